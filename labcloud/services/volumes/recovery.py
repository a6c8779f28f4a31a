"""Crash recovery for the volume service's journalled operations.

Run at start (lab.py) like compute's: whatever a killed process left half-done is
finished (deletes, detaches) or rolled back (creates, attaches that never reached the
domain), so no file, LV or allocation is left behind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labcloud.db.volume_models import Volume, VolumeSnapshot
from labcloud.services.volumes.attach import settle, unplug

if TYPE_CHECKING:
    from labcloud.services.core import OperationHandle
    from labcloud.services.volumes.host import VolumeHost

KINDS = (
    "volume.create",
    "volume.delete",
    "volume.extend",
    "volume.attach",
    "volume.detach",
    "snapshot.create",
    "snapshot.delete",
)


def recover(svc: VolumeHost) -> list[tuple[str, str, str]]:
    """(operation, name, outcome) for each interrupted operation finished or rolled back."""
    return svc.journal.recover(
        KINDS, lambda handle, op, d: _one(svc, handle, op.kind, op.step, op.resource_id, d)
    )


def _one(
    svc: VolumeHost, handle: OperationHandle, kind: str, step: str, rid: str, d: dict[str, Any]
) -> str:
    # Every create and delete journals its volume type; attach and detach need none.
    name, vtype, location = d.get("name", rid), d.get("type", ""), d.get("location", "")
    if kind == "volume.create":
        if step == "finish":
            return _finish_create(svc, handle, rid)
        svc.undo_made(handle, Volume, rid, name, vtype, location, f"interrupted at {step}")
        return "rolled back"
    if kind == "snapshot.create":
        svc.undo_made(
            handle,
            VolumeSnapshot,
            rid,
            name,
            vtype,
            location,
            f"interrupted at {step}",
        )
        return "rolled back"
    if kind == "volume.delete":
        svc.delete_steps(handle, rid, name, vtype, location)
        return "finished"
    if kind == "snapshot.delete":
        svc.delete_snapshot_steps(handle, rid, name, vtype, location)
        return "finished"
    with svc.ctx.store.read() as s:
        vol = s.get(Volume, rid)
    if vol is None:
        with svc.ctx.store.write() as s:
            handle.finish(s, "rolled_back")
        return "nothing left"
    if kind == "volume.extend":
        actual = svc.backend(vol.volume_type).size_of(vol.location) or 0
        size = max(int(d.get("old_size", vol.size)), actual // (1024**3))
        svc.settle_extend(handle, rid, d.get("previous", "available"), size, "extend recovered")
        return f"size {size} GB"
    xml = svc.ctx.device_builder("disk", svc.disk_spec(vol))
    server_id = d["server_id"]
    hv = svc.ctx.server_hypervisor(server_id)
    present = hv.exists(server_id) and hv.device_present(server_id, xml)
    if kind == "volume.attach":
        settle(
            svc,
            handle,
            rid,
            attached=present,
            note="in-use (attach recovered)" if present else "attach rolled back",
        )
        return "finished" if present else "rolled back"
    # volume.detach: finish it.
    if present:
        unplug(svc, server_id, xml, 30)
    settle(svc, handle, rid, attached=False, note="detached (detach recovered)")
    return "finished"


def _finish_create(svc: VolumeHost, handle: OperationHandle, rid: str) -> str:
    from labcloud.db.models import utcnow

    with svc.ctx.store.write() as s:
        row = s.get(Volume, rid)
        if row is not None:
            row.status, row.updated_at = "available", utcnow()
        handle.finish(s)
    return "finished"
