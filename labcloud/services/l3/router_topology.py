"""The L3 part of `network topology`: a project's routers and floating IPs."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from labcloud.db.l3_models import FloatingIP, Router
from labcloud.services.l3.router_queries import GATEWAY, router_legs


def l3_topology(s: Session, graph: dict[str, Any], project_id: str) -> None:
    """Adds the project's routers and floating IPs to `network topology` (network/topology.py)."""
    known_ports = {p["id"] for net in graph["networks"] for p in net["ports"]}
    routers = s.exec(select(Router).where(Router.project_id == project_id).order_by(Router.name))
    for router in routers:
        interfaces, gateway = [], None
        for port, subnet, ip in router_legs(s, router.id, with_gateway=True):
            if port.device_owner == GATEWAY:
                gateway = {"network_id": port.network_id, "ip_address": ip}
            else:
                interfaces.append({"port_id": port.id, "subnet_id": subnet.id, "ip_address": ip})
        graph["routers"].append(
            {
                "id": router.id,
                "name": router.name,
                "namespace": router.namespace,
                "external_gateway": gateway,
                "interfaces": interfaces,
            }
        )
    for fip in s.exec(select(FloatingIP).order_by(FloatingIP.floating_ip_address)):
        if fip.project_id == project_id or fip.floating_port_id in known_ports:
            graph["floating_ips"].append(
                {
                    "id": fip.id,
                    "floating_ip_address": fip.floating_ip_address,
                    "floating_network_id": fip.floating_network_id,
                    "port_id": fip.port_id,
                    "fixed_ip_address": fip.fixed_ip_address,
                    "router_id": fip.router_id,
                }
            )
