"""Crash recovery for the floating IP service's journalled operations (run at start).

A create killed before its row was written is rolled back (the port holding the address
goes); a delete is finished; an associate or disassociate, whose row is already right, is
rolled forward by syncing the router's NAT with the store.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from labcloud.errors import NotFound

if TYPE_CHECKING:
    from labcloud.services.core import OperationHandle
    from labcloud.services.l3.hosts import FloatingIPHost

KINDS = (
    "floating_ip.create",
    "floating_ip.delete",
    "floating_ip.associate",
    "floating_ip.disassociate",
)


def recover(svc: FloatingIPHost) -> list[tuple[str, str, str]]:
    """(operation, name, outcome) for each interrupted operation finished or rolled back."""
    return svc.journal.recover(
        KINDS, lambda handle, op, d: _one(svc, handle, op.kind, op.resource_id, d)
    )


def _one(svc: FloatingIPHost, handle: OperationHandle, kind: str, rid: str, d: dict) -> str:
    if kind == "floating_ip.create":  # its row and its finish share one transaction
        svc.undo_create(handle, rid)
        return "rolled back"
    if kind == "floating_ip.delete":
        svc.delete_steps(handle, rid)
        return "finished"
    if d.get("router_id"):
        with contextlib.suppress(NotFound):
            svc.routers.sync(d["router_id"])
    with svc.ctx.store.write() as s:
        handle.finish(s)
    return "finished"
