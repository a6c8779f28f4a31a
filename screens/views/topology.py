"""Topology: the project's networks drawn as a tree (external network, routers, subnets,
ports, servers, floating IPs), from `lab.network.topology()`, the graph the CLI prints."""

from __future__ import annotations

from typing import Any

from labcloud.screens.resource import Item, ResourceView, Snapshot


def draw(graph: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, line) pairs: one line per thing, indented under what it hangs from."""
    servers = {s["id"]: s for s in graph.get("servers", [])}
    fips = {f["port_id"]: f for f in graph.get("floating_ips", []) if f.get("port_id")}
    routers = graph.get("routers", [])
    subnet_router: dict[str, list[str]] = {}
    for r in routers:
        for iface in r.get("interfaces", []):
            subnet_router.setdefault(iface.get("subnet_id", ""), []).append(
                f"{r['name']} {iface.get('ip_address', '')}"
            )
    lines: list[tuple[str, str]] = []
    for net in graph.get("networks", []):
        kind = "external network" if net["external"] else "network"
        lines.append((net["id"], f"{kind} {net['name']} ({net['provider']}, mtu {net['mtu']})"))
        for r in routers:
            gw = r.get("external_gateway") or {}
            if gw.get("network_id") == net["id"]:
                lines.append(
                    (f"gw-{r['id']}", f"├─ router {r['name']} gateway {gw.get('ip_address', '')}")
                )
        for sub in net["subnets"]:
            lines.append((sub["id"], f"├─ subnet {sub['name']} {sub['cidr']}"))
            for via in subnet_router.get(sub["id"], []):
                lines.append((f"{sub['id']}-{via}", f"│  ├─ router {via}"))
        for port in net["ports"]:
            if port["device_owner"] != "compute:nova":
                continue
            server = servers.get(port["device_id"], {})
            ips = ", ".join(f["ip_address"] for f in port["fixed_ips"])
            text = f"└─ port {ips or port['mac_address']} → server {server.get('name', '?')}"
            fip = fips.get(port["id"])
            if fip:
                text += f" ← floating IP {fip['floating_ip_address']}"
            lines.append((port["id"], text))
    loose = [s for s in servers.values() if not s["ports"]]
    for s in loose:
        lines.append((s["id"], f"server {s['name']} (no network)"))
    return lines


class TopologyView(ResourceView):
    view_name = "topology"
    title = "Topology"
    aliases = ("topo", "graph")
    order = 13
    columns = ("Topology",)
    cli = "labcloud network topology"
    max_cell = 1000  # a tree's lines are never cut

    def fetch(self) -> Snapshot:
        graph = self.lab.network.topology()
        return Snapshot([Item(key, (line,), {"line": line}) for key, line in draw(graph)])

    def detail(self, item: Item | None) -> str:
        return item.record["line"] if item else "(no networks yet)"
