"""Crash recovery for the router service's journalled operations (run at start, lab.py).

A router create killed before it finished is rolled back (namespace and row go); a delete
is finished. An `add subnet` killed before its leg's port was made is rolled back; once
the port is in the store it is rolled forward (the namespace is synced to the store). A
`remove subnet` is finished: its legs go and the namespace follows.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from labcloud.db.l3_models import Router
from labcloud.errors import NotFound
from labcloud.services.l3.router_queries import router_legs

if TYPE_CHECKING:
    from labcloud.services.core import OperationHandle
    from labcloud.services.l3.hosts import RouterHost

KINDS = ("router.create", "router.delete", "router.add_subnet", "router.remove_subnet")


def recover(svc: RouterHost) -> list[tuple[str, str, str]]:
    """(operation, name, outcome) for each interrupted operation finished or rolled back."""
    return svc.journal.recover(
        KINDS, lambda handle, op, d: _one(svc, handle, op.kind, op.step, op.resource_id, d)
    )


def _one(svc: RouterHost, handle: OperationHandle, kind: str, step: str, rid: str, d: dict) -> str:
    with svc.ctx.store.read() as s:
        exists = s.get(Router, rid) is not None
    if kind == "router.create":
        if step == "finish" and exists:
            svc.sync(rid)
            svc.finish(handle)
            return "finished"
        svc.forget(rid)
        svc.finish(handle, "rolled_back")
        return "rolled back"
    if kind == "router.delete":
        svc.delete_steps(handle, rid, d["namespace"])
        return "finished"
    if kind == "router.add_subnet" and step in ("begin", "port"):
        svc.undo_leg(handle, rid, d["subnet_id"])
        return "rolled back"
    if kind == "router.remove_subnet" and step in ("begin", "ports"):
        with svc.ctx.store.read() as s:
            legs = [p for p, sub, _ip in router_legs(s, rid) if sub.id == d["subnet_id"]]
        for port in legs:
            svc.network.delete_port(port.id, internal=True)
    # The store holds what the user asked for: make the namespace agree.
    if exists:
        with contextlib.suppress(NotFound):
            svc.sync(rid)
    svc.finish(handle)
    return "finished"
