"""`network topology`: the project's networks as a graph, read in one transaction.

The shape (plain data, so `-f json` prints it as is):

    {"networks": [{id, name, external, shared, provider, mtu, bridge,
                   subnets: [{id, name, cidr, gateway_ip}],
                   ports: [{id, name, mac_address, device_owner, device_id,
                            fixed_ips: [{subnet, ip_address}]}]}],
     "servers": [{id, name, status, ports: [port id]}],
     "routers": [], "floating_ips": []}

Routers and floating IPs are filled by the network service's topology_contributors
(the L3 part), each getting the same session and the graph to add to. A router is
expected as {id, name, external_gateway: {network_id, ip_address} | None,
interfaces: [{port_id, subnet_id, ip_address}]}; a floating IP as {id,
floating_ip_address, floating_network_id, port_id, fixed_ip_address}.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlmodel import col, or_, select

from labcloud.db.models import Server
from labcloud.db.network_models import Network, Port, Subnet
from labcloud.services.network.common import fixed_ips_by_port

if TYPE_CHECKING:
    from labcloud.services.network.host import NetworkHost


def build_topology(service: NetworkHost) -> dict[str, Any]:
    pid = service.ctx.project.id
    graph: dict[str, Any] = {"networks": [], "servers": [], "routers": [], "floating_ips": []}
    with service.ctx.store.read() as s:
        nets = list(
            s.exec(
                select(Network)
                .where(or_(Network.project_id == pid, Network.shared, Network.external))
                .order_by(Network.external.desc(), Network.name)  # type: ignore[attr-defined]
            )
        )
        net_ids = [n.id for n in nets]
        subnets = list(
            s.exec(
                select(Subnet)
                .where(Subnet.network_id.in_(net_ids))  # type: ignore[attr-defined]
                .order_by(col(Subnet.created_at))
            )
        )
        ports = list(
            s.exec(
                select(Port)
                .where(Port.network_id.in_(net_ids))  # type: ignore[attr-defined]
                .where(or_(Port.project_id == pid, col(Port.device_owner).startswith("network:")))
                .order_by(col(Port.created_at), col(Port.id))
            )
        )
        ips = fixed_ips_by_port(s, [p.id for p in ports])
        servers = list(s.exec(select(Server).where(Server.project_id == pid).order_by(Server.name)))
        for net in nets:
            graph["networks"].append(
                {
                    "id": net.id,
                    "name": net.name,
                    "external": net.external,
                    "shared": net.shared,
                    "provider": _provider(net),
                    "mtu": net.mtu,
                    "bridge": net.bridge,
                    "status": net.status,
                    "subnets": [
                        {
                            "id": sub.id,
                            "name": sub.name,
                            "cidr": sub.cidr,
                            "gateway_ip": sub.gateway_ip,
                        }
                        for sub in subnets
                        if sub.network_id == net.id
                    ],
                    "ports": [
                        {
                            "id": p.id,
                            "name": p.name,
                            "mac_address": p.mac_address,
                            "device_owner": p.device_owner,
                            "device_id": p.device_id,
                            "status": p.status,
                            "fixed_ips": [
                                {"subnet": f["subnet"], "ip_address": f["ip_address"]}
                                for f in ips.get(p.id, [])
                            ],
                        }
                        for p in ports
                        if p.network_id == net.id
                    ],
                }
            )
        by_server: dict[str, list[str]] = {}
        for p in ports:
            if p.device_owner == "compute:nova":
                by_server.setdefault(p.device_id, []).append(p.id)
        graph["servers"] = [
            {
                "id": srv.id,
                "name": srv.name,
                "status": srv.status,
                "ports": by_server.get(srv.id, []),
            }
            for srv in servers
        ]
        for contribute in service.topology_contributors:
            contribute(s, graph)
    return graph


def _provider(net: Network) -> str:
    text = net.provider_network_type
    if net.provider_physical_network:
        text += f":{net.provider_physical_network}"
    if net.provider_segment is not None:
        text += f":{net.provider_segment}"
    return text


def render(graph: dict[str, Any]) -> str:
    """The graph as an indented tree, for a terminal."""
    servers = {srv["id"]: srv for srv in graph["servers"]}
    routers = {r["id"]: r for r in graph.get("routers", [])}
    fips = {f.get("port_id"): f for f in graph.get("floating_ips", []) if f.get("port_id")}
    lines: list[str] = []
    for net in graph["networks"]:
        flags = [net["provider"]] + (["external"] if net["external"] else [])
        flags += ["shared"] if net["shared"] else []
        lines.append(f"network {net['name']} ({', '.join(flags)}, mtu {net['mtu']})")
        for sub in net["subnets"]:
            gw = sub["gateway_ip"] or "no gateway"
            lines.append(f"  subnet {sub['name']} {sub['cidr']} gateway {gw}")
        for port in net["ports"]:
            addrs = ", ".join(f["ip_address"] for f in port["fixed_ips"]) or "no address"
            owner = port["device_owner"]
            if owner == "compute:nova" and port["device_id"] in servers:
                srv = servers[port["device_id"]]
                who = f"server {srv['name']} ({srv['status']})"
            elif owner.startswith("network:router") and port["device_id"] in routers:
                who = f"router {routers[port['device_id']]['name']} ({owner.split(':')[1]})"
            elif owner:
                who = owner
            else:
                who = "unbound"
            line = f"  port {port['name']} {addrs} {port['mac_address']} -> {who}"
            fip = fips.get(port["id"])
            if fip:
                line += f" [floating IP {fip['floating_ip_address']}]"
            lines.append(line)
    for router in graph.get("routers", []):
        gw = router.get("external_gateway") or {}
        lines.append(
            f"router {router['name']}"
            + (f" gateway {gw.get('ip_address')}" if gw else " (no gateway)")
        )
    return "\n".join(lines) if lines else "(no networks)"
