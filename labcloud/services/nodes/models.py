"""Nodes without the service: how a node is shown (NodeView), checks of what a user
gives, and the spec a transport reaches a node by."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from labcloud.config import NODE_ROLES
from labcloud.db.node_models import ComputeNode
from labcloud.errors import UsageError
from labcloud.services.nodes.interfaces import NodeSpec
from labcloud.services.nodes.scheduler import Candidate

LOCAL = "local"
FINGERPRINT_RE = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}$")
HOST_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:-]{0,252}$")
USER_RE = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")


@dataclass
class NodeView:
    """A node as `node list` and `node show` present it."""

    name: str
    host: str
    state: str  # up | down
    status: str  # enabled | disabled
    roles: tuple[str, ...]
    zone: str
    vcpus: int = 0
    vcpus_used: int = 0
    ram_mb: int = 0
    ram_used_mb: int = 0
    disk_gb: int = 0
    disk_used_gb: int = 0
    disk_free_gb: int = 0
    servers: int = 0
    fingerprint: str = ""
    reason: str = ""  # why down, or why disabled
    checked_at: datetime | None = None
    shared_storage: bool = True  # sees the control node's state_dir (instance disks)
    facts: dict[str, object] = field(default_factory=dict)

    def candidate(self) -> Candidate:
        return Candidate(
            self.name,
            self.status == "enabled",
            self.state == "up",
            self.roles,
            self.zone,
            self.vcpus,
            self.ram_mb,
            self.disk_gb,
            self.vcpus_used,
            self.ram_used_mb,
            self.disk_used_gb,
        )


def check_fingerprint(value: str) -> str:
    if not FINGERPRINT_RE.fullmatch(value):
        raise UsageError(
            f"invalid fingerprint {value!r}",
            "give it as `ssh-keygen -lf` prints it: SHA256:<43 characters>",
        )
    return value


def check_roles(roles: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    bad = [r for r in roles if r not in NODE_ROLES]
    if bad or not roles:
        raise UsageError(
            f"invalid role(s) {', '.join(bad) or '(none)'}", f"roles are {', '.join(NODE_ROLES)}"
        )
    return tuple(dict.fromkeys(roles))


def node_spec(row: ComputeNode) -> NodeSpec:
    return {
        "name": row.name,
        "host": row.host,
        "port": row.port,
        "user": row.user,
        "key_file": row.key_file,
        "libvirt_uri": row.libvirt_uri,
    }


def fill_view(view: NodeView, facts: dict[str, object], usage: dict[str, tuple]) -> None:
    view.facts = facts
    view.vcpus = int(facts.get("vcpus", 0))  # type: ignore[call-overload]
    view.ram_mb = int(facts.get("memory_mb", 0))  # type: ignore[call-overload]
    view.disk_gb = int(facts.get("disk_gb", 0))  # type: ignore[call-overload]
    view.disk_free_gb = int(facts.get("disk_free_gb", 0))  # type: ignore[call-overload]
    n, vcpus, ram, disk = usage.get(view.name, (0, 0, 0, 0))
    view.servers, view.vcpus_used, view.ram_used_mb, view.disk_used_gb = n, vcpus, ram, disk


def older(since: datetime | None, checked_at: datetime | None) -> bool:
    """Whether a look begun at `since` is older than the check recorded at `checked_at`
    (SQLite hands datetimes back without their UTC zone)."""
    if since is None or checked_at is None:
        return False
    return since.replace(tzinfo=None) < checked_at.replace(tzinfo=None)
