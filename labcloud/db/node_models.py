"""Remote nodes (Nova's compute services and hypervisors) and where each server was placed.

The node named "local" (the machine labcloud runs on) has no row: it is always there.
A node's host key is pinned in labcloud's own known_hosts; the row keeps its fingerprint
to show it. Capacity columns are the totals last probed; used amounts come from servers.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from labcloud.db.models import utcnow


class ComputeNode(SQLModel, table=True):
    __tablename__ = "nodes"
    name: str = Field(primary_key=True, max_length=64)
    host: str = Field(max_length=255)
    port: int = 22
    user: str = Field(default="root", max_length=64)
    key_file: str | None = None
    roles: str = "compute"  # comma-separated: control, compute, network, storage
    availability_zone: str = Field(default="nova", max_length=64)
    libvirt_uri: str = "qemu:///system"
    fingerprint: str = Field(max_length=64)
    enabled: bool = True
    disabled_reason: str = ""
    state: str = Field(default="up", max_length=16)  # up | down
    state_reason: str = ""
    checked_at: datetime | None = None
    # It sees the control node's state_dir (shared instance storage): files made here are
    # there, and servers can move between such nodes. Otherwise files go over SSH.
    shared_storage: bool = False
    vcpus: int = 0
    memory_mb: int = 0
    disk_gb: int = 0
    disk_free_gb: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ServerPlacement(SQLModel, table=True):
    """The scheduler's choice for a server, and why (shown by `server show`)."""

    __tablename__ = "server_placements"
    server_id: str = Field(primary_key=True, max_length=36)
    node: str = Field(max_length=64)
    reason: str = ""
    created_at: datetime = Field(default_factory=utcnow)
