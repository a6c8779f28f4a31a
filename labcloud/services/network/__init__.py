"""Network (Neutron L2): networks, subnets, ports, IPAM and DHCP, one concept per module;
service.py joins them into NetworkService. Routers, floating IPs and security groups
build on it (services/l3)."""

from __future__ import annotations

from labcloud.services.network.common import COMPUTE_OWNER
from labcloud.services.network.ipam import check_ipv6_modes, eui64, parse_cidr
from labcloud.services.network.service import NetworkService
from labcloud.services.network.topology import render

__all__ = [
    "COMPUTE_OWNER",
    "NetworkService",
    "check_ipv6_modes",
    "eui64",
    "parse_cidr",
    "render",
]
