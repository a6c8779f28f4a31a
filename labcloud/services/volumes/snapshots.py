"""Volume snapshots (Cinder): made, listed and deleted on the volume's own backend,
journalled like every other multi-step change."""

from __future__ import annotations

from sqlmodel import Session, col, select

from labcloud.db.models import utcnow
from labcloud.db.volume_models import Volume, VolumeSnapshot
from labcloud.errors import Conflict, NotFound
from labcloud.names import check_name, new_uuid
from labcloud.services.core import OperationHandle, charge, record_event
from labcloud.services.volumes.host import VolumeHost


def list_snapshots(svc: VolumeHost, volume: str | None = None) -> list[VolumeSnapshot]:
    with svc.ctx.store.read() as s:
        query = select(VolumeSnapshot).where(svc.ctx.scope(VolumeSnapshot))
        if volume is not None:
            query = query.where(VolumeSnapshot.volume_id == svc.find(s, volume).id)
        return list(
            s.exec(query.order_by(col(VolumeSnapshot.created_at), col(VolumeSnapshot.name)))
        )


def create(
    svc: VolumeHost, name: str, volume: str, *, force: bool = False, description: str = ""
) -> VolumeSnapshot:
    check_name(name, "snapshot name")
    with svc.ctx.store.read() as s:
        svc.refuse_taken(s, VolumeSnapshot, name)
        vol = svc.find(s, volume)
    if vol.status == "in-use" and not force:
        raise Conflict(
            f"volume {vol.name} is in-use",
            "a snapshot of an attached volume needs --force (it is crash-consistent)",
        )
    if vol.status not in ("available", "in-use"):
        raise Conflict(f"volume {vol.name} is {vol.status}; it cannot be snapshotted now")
    backend = svc.backend(vol.volume_type)
    sid = new_uuid()
    row = VolumeSnapshot(
        id=sid,
        name=name,
        status="creating",
        project_id=vol.project_id,
        volume_id=vol.id,
        size=vol.size,
        location=backend.locate("snapshot", sid),
        description=description,
    )

    def allocate(s: Session) -> None:
        svc.refuse_taken(s, VolumeSnapshot, name)
        charge(svc.ctx, s, row.project_id, snapshots=1, gigabytes=row.size)
        s.add(row)
        record_event(s, "snapshot", sid, name, f"snapshot of {vol.name} requested")

    detail = {"name": name, "type": vol.volume_type, "location": row.location}
    with svc.journal.begin("snapshot.create", sid, allocate, **detail) as op:
        try:
            op.step("snapshot")
            backend.snapshot(sid, vol.location)
            op.step("finish")
            with svc.ctx.store.write() as s:
                made = s.get(VolumeSnapshot, sid)
                assert made is not None
                made.status, made.updated_at = "available", utcnow()
                record_event(s, "snapshot", sid, name, "available")
                op.finish(s)
                s.flush()
                s.expunge(made)
        except BaseException as exc:
            svc.undo_made(op, VolumeSnapshot, sid, name, vol.volume_type, row.location, exc)
            raise
    return made


def delete(svc: VolumeHost, ref: str) -> VolumeSnapshot:
    with svc.ctx.store.read() as s:
        snap = svc.find_snapshot(s, ref)
        parent = s.get(Volume, snap.volume_id)
    vtype = parent.volume_type if parent else svc.ctx.config.volumes.default_type

    def allocate(s: Session) -> None:
        row = s.get(VolumeSnapshot, snap.id)
        if row is None:
            raise NotFound(f"volume snapshot {snap.name} was deleted meanwhile")
        if row.status not in ("available", "error"):
            raise Conflict(f"volume snapshot {row.name} is {row.status}")
        row.status, row.updated_at = "deleting", utcnow()

    detail = {"name": snap.name, "type": vtype, "location": snap.location}
    with svc.journal.begin("snapshot.delete", snap.id, allocate, **detail) as op:
        delete_steps(svc, op, snap.id, snap.name, vtype, snap.location)
    snap.status = "deleted"
    return snap


def delete_steps(
    svc: VolumeHost, op: OperationHandle, sid: str, name: str, vtype: str, location: str
) -> None:
    op.step("delete")
    svc.backend(vtype).delete(location)
    op.step("finish")
    with svc.ctx.store.write() as s:
        row = s.get(VolumeSnapshot, sid)
        if row is not None:
            s.delete(row)
        record_event(s, "snapshot", sid, name, "deleted")
        op.finish(s)
