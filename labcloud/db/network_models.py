"""The network service's tables: networks, subnets, ports and their fixed IPs (Neutron L2).

Addresses are handed out inside one write transaction and guarded by a unique constraint on
(subnet, address), so racing processes can never get the same address twice.
"""

from __future__ import annotations

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from labcloud.db.models import Resource


class Network(Resource, table=True):
    __tablename__ = "networks"
    __table_args__ = (
        UniqueConstraint("project_id", "name", name="uq_networks_project_name"),
        # One VNI (or VLAN id) per network; NULL segments (flat) never collide.
        UniqueConstraint("provider_network_type", "provider_segment", name="uq_networks_segment"),
    )
    project_id: str = Field(foreign_key="projects.id", index=True)
    mtu: int = 1500
    provider_network_type: str = Field(default="vxlan", max_length=8)  # flat | vlan | vxlan
    provider_segment: int | None = None  # VNI or VLAN id
    provider_physical_network: str | None = Field(default=None, max_length=64)
    external: bool = False
    shared: bool = False
    admin_state_up: bool = True
    bridge: str = Field(max_length=15)  # the Linux bridge's name (netnames.bridge)


class Subnet(Resource, table=True):
    __tablename__ = "subnets"
    __table_args__ = (UniqueConstraint("network_id", "name", name="uq_subnets_network_name"),)
    project_id: str = Field(foreign_key="projects.id", index=True)
    network_id: str = Field(foreign_key="networks.id", index=True)
    cidr: str = Field(max_length=64)
    ip_version: int = 4
    gateway_ip: str | None = Field(default=None, max_length=64)
    allocation_pools: str = "[]"  # JSON list of {"start", "end"}
    dns_nameservers: str = "[]"  # JSON list of addresses
    host_routes: str = "[]"  # JSON list of {"destination", "nexthop"}
    enable_dhcp: bool = True
    # IPv6 only, in Neutron's words: slaac | dhcpv6-stateful | dhcpv6-stateless (or None).
    ipv6_ra_mode: str | None = Field(default=None, max_length=32)
    ipv6_address_mode: str | None = Field(default=None, max_length=32)


class Port(Resource, table=True):
    __tablename__ = "ports"
    __table_args__ = (UniqueConstraint("mac_address", name="uq_ports_mac_address"),)
    project_id: str = Field(foreign_key="projects.id", index=True)
    network_id: str = Field(foreign_key="networks.id", index=True)
    mac_address: str = Field(max_length=17)
    device_id: str = Field(default="", max_length=36, index=True)  # server or router id
    # compute:nova, network:dhcp, network:router_interface, network:router_gateway, ...
    device_owner: str = Field(default="", max_length=64)
    port_security_enabled: bool = True
    admin_state_up: bool = True
    tap: str = Field(default="", max_length=15)  # the tap/veth on the bridge (netnames)
    # Made by `server create --network`: deleted with the server. Ports given with --port
    # are only unbound, as in Nova.
    auto_delete: bool = False
    device_index: int = 0  # the NIC's order on its server (eth0, eth1, ...)


class IPAllocation(SQLModel, table=True):
    __tablename__ = "ip_allocations"
    __table_args__ = (UniqueConstraint("subnet_id", "ip_address", name="uq_ipalloc_subnet_ip"),)
    id: int | None = Field(default=None, primary_key=True)
    port_id: str = Field(foreign_key="ports.id", index=True)
    subnet_id: str = Field(foreign_key="subnets.id", index=True)
    ip_address: str = Field(max_length=64)
