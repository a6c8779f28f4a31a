"""Store queries about routers, shared by the router service, its recovery and the
network topology: which ports are a router's legs, and what the owners are called."""

from __future__ import annotations

from sqlmodel import Session, select

from labcloud.db.network_models import IPAllocation, Port, Subnet

INTERFACE = "network:router_interface"
GATEWAY = "network:router_gateway"


def router_legs(
    s: Session, router_id: str, with_gateway: bool = False
) -> list[tuple[Port, Subnet, str]]:
    owners = [INTERFACE, GATEWAY] if with_gateway else [INTERFACE]
    out = []
    ports = s.exec(
        select(Port).where(Port.device_id == router_id, Port.device_owner.in_(owners))  # type: ignore[attr-defined]
    )
    for port in ports:
        for alloc in s.exec(select(IPAllocation).where(IPAllocation.port_id == port.id)):
            subnet = s.get(Subnet, alloc.subnet_id)
            if subnet is not None:
                out.append((port, subnet, alloc.ip_address))
    return sorted(out, key=lambda t: (t[0].device_owner != GATEWAY, t[1].cidr))
