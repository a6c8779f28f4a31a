"""The network service's routing and filtering tables: routers, floating IPs, security groups.

A router's legs are ports (device_owner network:router_interface / network:router_gateway,
device_id the router's id), so they need no table of their own. A port's security groups
are rows of PortSecurityGroup; they go with the port (ON DELETE CASCADE), so the L2 code
that deletes ports need not know about groups.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from labcloud.db.models import Resource, utcnow


class Router(Resource, table=True):
    __tablename__ = "routers"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_routers_project_name"),)
    project_id: str = Field(foreign_key="projects.id", index=True)
    admin_state_up: bool = True
    namespace: str = Field(max_length=15)  # the router's netns (netnames.router_netns)
    # The external gateway: a network:router_gateway port on an external network.
    external_network_id: str | None = Field(default=None, foreign_key="networks.id")
    gateway_port_id: str | None = Field(default=None, max_length=36)
    enable_snat: bool = True


class FloatingIP(Resource, table=True):
    __tablename__ = "floating_ips"
    __table_args__ = (
        UniqueConstraint(
            "floating_network_id", "floating_ip_address", name="uq_floating_ips_network_address"
        ),
    )
    project_id: str = Field(foreign_key="projects.id", index=True)
    floating_network_id: str = Field(foreign_key="networks.id", index=True)
    floating_ip_address: str = Field(max_length=64)
    # The network:floatingip port that holds the address on the external network.
    floating_port_id: str = Field(max_length=36)
    # Set while associated: the server's port, its fixed address, the router that NATs.
    port_id: str | None = Field(default=None, max_length=36, index=True)
    fixed_ip_address: str | None = Field(default=None, max_length=64)
    router_id: str | None = Field(default=None, max_length=36, index=True)
    description: str = ""


class SecurityGroup(Resource, table=True):
    __tablename__ = "security_groups"
    __table_args__ = (
        UniqueConstraint("project_id", "name", name="uq_security_groups_project_name"),
    )
    project_id: str = Field(foreign_key="projects.id", index=True)
    description: str = ""


class SecurityGroupRule(SQLModel, table=True):
    __tablename__ = "security_group_rules"
    id: str = Field(primary_key=True, max_length=36)
    project_id: str = Field(foreign_key="projects.id", index=True)
    security_group_id: str = Field(foreign_key="security_groups.id", ondelete="CASCADE", index=True)
    direction: str = Field(max_length=8)  # ingress | egress
    ethertype: str = Field(default="IPv4", max_length=8)
    protocol: str | None = Field(default=None, max_length=8)  # tcp | udp | icmp | None: any
    port_range_min: int | None = None
    port_range_max: int | None = None
    remote_ip_prefix: str | None = Field(default=None, max_length=64)
    remote_group_id: str | None = Field(
        default=None, foreign_key="security_groups.id", ondelete="CASCADE"
    )
    description: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class PortSecurityGroup(SQLModel, table=True):
    __tablename__ = "port_security_groups"
    port_id: str = Field(foreign_key="ports.id", ondelete="CASCADE", primary_key=True)
    security_group_id: str = Field(
        foreign_key="security_groups.id", ondelete="CASCADE", primary_key=True
    )
