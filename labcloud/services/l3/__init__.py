"""L3 (Neutron): routers (a namespace per router, SNAT to the gateway), floating IPs (DNAT
through the router) and security groups (nftables filters on each node's taps)."""

from __future__ import annotations

from labcloud.services.l3.floating_ips import FloatingIPService
from labcloud.services.l3.router_topology import l3_topology
from labcloud.services.l3.routers import RouterService
from labcloud.services.l3.security_group_rules import DEFAULT, RuleRequest, parse_port_range
from labcloud.services.l3.security_groups import SecurityGroupService

__all__ = [
    "DEFAULT",
    "FloatingIPService",
    "RouterService",
    "RuleRequest",
    "SecurityGroupService",
    "l3_topology",
    "parse_port_range",
]
