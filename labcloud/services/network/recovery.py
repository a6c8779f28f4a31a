"""Crash recovery for the network service's journalled operations.

Run at start (lab.py), like compute's and volumes': a network create killed before it
finished is rolled back (its devices and rows go); a network delete is finished (its
devices go); a subnet or port change, whose rows are already right, is rolled forward by
syncing the network's DHCP with the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labcloud.services.core import OperationHandle
    from labcloud.services.network.host import NetworkHost

# Subnet and port changes: the rows are right, DHCP is synced to them.
FORWARD = ("subnet.create", "subnet.set", "subnet.delete", "port.create", "port.set", "port.delete")
KINDS = ("network.create", "network.delete", *FORWARD)


def recover(svc: NetworkHost) -> list[tuple[str, str, str]]:
    """(operation, name, outcome) for each interrupted operation finished or rolled back."""
    return svc.journal.recover(
        KINDS, lambda handle, op, d: _one(svc, handle, op.kind, op.step, op.resource_id, d)
    )


def _one(svc: NetworkHost, handle: OperationHandle, kind: str, step: str, rid: str, d: dict) -> str:
    if kind == "network.create":
        if step == "finish":  # its devices were made: only the status was left to write
            svc.ensure_l2_of(rid)
            svc.finish_network_create(handle, rid)
            return "finished"
        svc.undo_network_create(handle, rid)
        return "rolled back"
    if kind == "network.delete":
        svc.remove_network_devices(handle, rid, d["type"], d["bridge"])
        return "finished"
    # Subnets and ports: the rows are what the user asked for; DHCP follows them.
    network_id = d.get("network_id")
    if network_id:
        svc.sync_dhcp(network_id)
    if kind == "port.set" and d.get("id"):
        for listener in svc.port_listeners:  # port security may have changed
            listener.port_updated(d["id"])
    with svc.ctx.store.write() as s:
        handle.finish(s)
    return "finished" if network_id else "nothing to do"
