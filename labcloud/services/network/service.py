"""Network (Neutron L2): networks, subnets, ports, IPAM and DHCP.

The store records networks and the addresses handed out; the node's agent makes the
bridges, VXLAN devices and DHCP namespaces. Every address is allocated inside a write
transaction (BEGIN IMMEDIATE) and guarded by the unique (subnet, address) constraint.

Routers, floating IPs and security groups (services/l3) build on this: they create
ports with `create_port`/`allocate_port`, delete them with `delete_port`, and register a
`PortListener` to hear when a server's port is plugged or unplugged.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from labcloud.services.network import doctor, recovery, topology
from labcloud.services.network.dhcp import DhcpOps
from labcloud.services.network.networks import NetworkOps
from labcloud.services.network.part import NetworkPart
from labcloud.services.network.ports import PortOps
from labcloud.services.network.subnets import SubnetOps


class NetworkService(NetworkOps, SubnetOps, PortOps, DhcpOps):
    """Neutron's L2 API, one concept per module; this class joins them."""

    @cached_property
    def server_part(self) -> NetworkPart:
        return NetworkPart(self)

    def recover(self) -> list[tuple[str, str, str]]:
        return recovery.recover(self)

    def doctor_check(self, repair: bool) -> list[Any]:
        return doctor.check_networks(self, repair)

    def topology(self) -> dict[str, Any]:
        return topology.build_topology(self)
