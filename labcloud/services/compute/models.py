"""Servers without the service: Nova's statuses and what each action may start from,
libvirt's states in Nova's words, drift, and what recovery reports."""

from __future__ import annotations

import time
from dataclasses import dataclass

from labcloud.db.models import Server
from labcloud.errors import Timeout
from labcloud.services.core import (
    DomainStateView,
)

GIB = 1024**3
DOMAIN_PREFIX = "labcloud-"

# Nova's statuses, and the ones each action may start from.
STATUSES = ("BUILD", "ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED", "ERROR", "DELETED", "UNKNOWN")
ALLOWED_FROM: dict[str, tuple[str, ...]] = {
    "start": ("SHUTOFF",),
    "stop": ("ACTIVE", "PAUSED", "ERROR"),
    "reboot": ("ACTIVE", "SHUTOFF", "ERROR"),
    "pause": ("ACTIVE",),
    "unpause": ("PAUSED",),
    "suspend": ("ACTIVE", "PAUSED"),
    "resume": ("SUSPENDED",),
}
# libvirt's state -> (Nova status, Nova power state)
FROM_LIBVIRT: dict[str, tuple[str, str]] = {
    "running": ("ACTIVE", "RUNNING"),
    "paused": ("PAUSED", "PAUSED"),
    "shutoff": ("SHUTOFF", "SHUTDOWN"),
    "crashed": ("ERROR", "CRASHED"),
    "pmsuspended": ("SUSPENDED", "SUSPENDED"),
    "nostate": ("ERROR", "NOSTATE"),
}


@dataclass(frozen=True)
class Recovery:
    operation: str
    server: str
    step: str
    outcome: str  # finished | rolled back


def drift_cause(row: Server, down: dict[str, str] | None) -> str:
    """Why a row drifted, in the same words whichever process notices it first."""
    if down and row.node in down:
        return f"node {row.node} down"
    if row.status == "UNKNOWN":  # its node answers again
        return f"node {row.node} up"
    return "changed outside labcloud"


def drift(
    row: Server, states: dict[str, DomainStateView], down: dict[str, str] | None = None
) -> tuple[str, str, str] | None:
    """The (status, power state, fault) libvirt implies for a row, when it differs.
    A server on a node that does not answer is UNKNOWN, as in Nova."""
    if row.status == "BUILD":
        return None
    dom = states.get(row.id)
    if down and row.node in down:
        wanted = ("UNKNOWN", "NOSTATE", down[row.node])
    elif dom is None:
        wanted = ("ERROR", "NOSTATE", "its libvirt domain is missing")
    else:
        status, power = FROM_LIBVIRT.get(dom.state, ("ERROR", "NOSTATE"))
        if dom.state == "shutoff" and (dom.saved or row.status == "SUSPENDED"):
            status, power = "SUSPENDED", "SUSPENDED"
        wanted = (status, power, "the guest crashed" if dom.state == "crashed" else "")
    return None if (row.status, row.power_state, row.fault) == wanted else wanted


def check_deadline(deadline: float, timeout: float, what: str) -> None:
    if time.monotonic() > deadline:
        raise Timeout(f"timed out after {timeout:g} s while {what}", "raise --timeout")
