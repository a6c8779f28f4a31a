"""What every module of the network package shares: the owners and limits, the
port listener Protocol, and small store queries and checks. No service in here."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any, Protocol

from sqlmodel import Session, col, func, select

from labcloud.db.network_models import IPAllocation, Port, Subnet
from labcloud.errors import NotFound, UsageError
from labcloud.names import is_uuid
from labcloud.services.network import ipam

PROVIDER_TYPES = ("flat", "vlan", "vxlan")
VXLAN_OVERHEAD = 50  # outer Ethernet + IP + UDP + VXLAN headers
DHCP_OWNER = "network:dhcp"
COMPUTE_OWNER = "compute:nova"
MAC_PREFIX = "fa:16:3e"  # OpenStack's


class PortListener(Protocol):
    """Told when a server's port is plugged into or unplugged from a server."""

    def port_plugged(self, port_id: str) -> None: ...
    def port_unplugged(self, port_id: str) -> None: ...
    def port_updated(self, port_id: str) -> None: ...  # e.g. port security turned on or off


# (session, graph) -> None: adds routers, floating IPs, ... to `network topology`.
TopologyContributor = Callable[[Session, dict[str, Any]], None]


def served(sub: Subnet) -> bool:
    """Whether the network's dnsmasq serves the subnet: IPv4 with DHCP on, or IPv6 with an
    RA/address mode (then dnsmasq sends the router advertisements too)."""
    if not sub.enable_dhcp:
        return False
    return sub.ip_version == 4 or bool(sub.ipv6_address_mode or sub.ipv6_ra_mode)


def v6_mode(sub: Subnet) -> str | None:
    return sub.ipv6_address_mode or sub.ipv6_ra_mode if sub.ip_version == 6 else None


def find_in_scope(s: Session, model: Any, ref: str, what: str, scope: Any) -> Any:
    key = model.id if is_uuid(ref) else model.name
    rows = list(s.exec(select(model).where(key == ref, scope)))
    if not rows:
        raise NotFound(
            f"no {what} named or with ID {ref!r}",
            f"`labcloud {what} list` shows the {what}s you can use",
        )
    if len(rows) > 1:
        raise NotFound(f"more than one {what} is named {ref!r}", "use its ID instead")
    return rows[0]


def fixed_ips_by_port(s: Session, port_ids: list[str]) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    if not port_ids:
        return out
    q = (
        select(IPAllocation, Subnet.name)
        .join(Subnet, Subnet.id == IPAllocation.subnet_id)  # type: ignore[arg-type]
        .where(IPAllocation.port_id.in_(port_ids))  # type: ignore[attr-defined]
        .order_by(col(IPAllocation.id))
    )
    for alloc, subnet_name in s.exec(q):
        out.setdefault(alloc.port_id, []).append(
            {
                "subnet_id": alloc.subnet_id,
                "subnet": subnet_name,
                "ip_address": alloc.ip_address,
            }
        )
    return out


def ports_of_server(s: Session, server_id: str) -> list[Port]:
    q = select(Port).where(Port.device_id == server_id, Port.device_owner == COMPUTE_OWNER)
    return list(s.exec(q.order_by(col(Port.device_index), col(Port.created_at))))


def next_device_index(s: Session, server_id: str) -> int:
    top = s.exec(
        select(func.max(Port.device_index)).where(
            Port.device_id == server_id, Port.device_owner == COMPUTE_OWNER
        )
    ).first()
    return 0 if top is None else int(top) + 1


def port_label(port: Port) -> str:
    return f"{port.name}: {port.device_owner or 'unbound'}"


def check_mac(text: str) -> str:
    mac = text.lower()
    parts = mac.split(":")
    if len(parts) != 6 or not all(
        len(p) == 2 and all(c in "0123456789abcdef" for c in p) for p in parts
    ):
        raise UsageError(f"invalid MAC address {text!r}", "e.g. fa:16:3e:12:34:56")
    if int(parts[0], 16) & 1:
        raise UsageError(f"MAC address {text} is a multicast address", "use a unicast MAC")
    return mac


def check_routes(routes: list[dict[str, str]], net: ipam.IPNetwork) -> list[dict[str, str]]:
    out = []
    for r in routes:
        dest = r.get("destination")
        hop = r.get("nexthop") or r.get("gateway")
        if not dest or not hop:
            raise UsageError(
                "a host route needs destination= and gateway=",
                "e.g. destination=10.1.0.0/24,gateway=10.0.0.254",
            )
        try:
            d = ipaddress.ip_network(dest)
        except ValueError:
            raise UsageError(f"invalid host route destination {dest!r}") from None
        h = ipam.parse_address(hop, "host route gateway")
        if d.version != net.version or h.version != net.version:
            raise UsageError(f"host route {dest} via {hop} is not IPv{net.version}")
        out.append({"destination": str(d), "nexthop": str(h)})
    return out
