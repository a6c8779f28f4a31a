"""Volumes (Cinder): volumes and snapshots on file or LVM backends, attached to servers.

Each backend in lab.toml's [volume_backends] is a volume type. Every multi-step change
is journalled (create, delete, extend, attach, detach, snapshot create and delete), and
`recover()` finishes or rolls back what a killed process left. Attach and detach live
in attach.py, snapshots in snapshots.py, the server part (boot from volume) in part.py.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable
from typing import Any

from sqlmodel import Session, col, select

from labcloud.db.models import Image, utcnow
from labcloud.db.volume_models import Volume, VolumeSnapshot
from labcloud.errors import BackendError, Conflict, NotFound, UsageError
from labcloud.names import check_name, new_uuid
from labcloud.services.core import (
    Journal,
    OperationHandle,
    ServiceContext,
    VolumeBackend,
    VolumeExporter,
    charge,
    find,
    record_event,
    usage,
    writes,
)
from labcloud.services.volumes import attach as attachment
from labcloud.services.volumes import devices, export, part, recovery, snapshots
from labcloud.services.volumes.models import GIB, check_size, gib_ceil, image_metadata


class VolumeService:
    noun = "volume"

    def __init__(
        self,
        ctx: ServiceContext,
        backend_factory: Callable[[str], VolumeBackend],
        images_dir: Any,
        exporter: Callable[[], VolumeExporter] | None = None,
    ) -> None:
        self.ctx = ctx
        self._exporter = exporter
        self.images_dir = images_dir
        self._backend_factory = backend_factory
        self._backends: dict[str, VolumeBackend] = {}
        self.journal = Journal(ctx.store, ctx.state_dir / "locks")
        self.recovered_at_start: list[tuple[str, str, str]] = []

    # -- backends (volume types) ----------------------------------------------------
    def types(self) -> list[tuple[str, str, bool]]:
        """(name, backend kind, is default) of every volume type in lab.toml."""
        default = self.ctx.config.volumes.default_type
        return [
            (name, cfg.type, name == default)
            for name, cfg in sorted(self.ctx.config.volume_backends.items())
        ]

    def backend(self, type_name: str | None = None) -> VolumeBackend:
        name = type_name or self.ctx.config.volumes.default_type
        if name not in self.ctx.config.volume_backends:
            known = ", ".join(sorted(self.ctx.config.volume_backends))
            raise NotFound(
                f"no volume type {name!r}", f"types are the [volume_backends] in lab.toml: {known}"
            )
        if name not in self._backends:
            self._backends[name] = self._backend_factory(name)
        return self._backends[name]

    def check_space(self, backend: VolumeBackend, size_gb: int) -> None:
        free = backend.free_bytes()
        if free is not None and size_gb * GIB > free:
            raise Conflict(
                f"volume type {backend.name} has {free / GIB:.2f} GiB free; {size_gb} GB asked",
                "ask for less, or free some space",
            )

    @property
    def exporter(self) -> VolumeExporter:
        """The storage node's NBD exports, for volumes of servers on other nodes."""
        if self._exporter is None:
            raise Conflict("this lab has no volume exporter")
        return self._exporter()

    # -- queries --------------------------------------------------------------------
    def list(self) -> list[Volume]:
        with self.ctx.store.read() as s:
            query = select(Volume).where(self.ctx.scope(Volume))
            return list(s.exec(query.order_by(col(Volume.created_at), col(Volume.name))))

    def get(self, ref: str) -> Volume:
        with self.ctx.store.read() as s:
            return self.find(s, ref)

    def find(self, s: Session, ref: str) -> Volume:
        return find(s, Volume, ref, "volume", project_id=self.ctx.project.id)

    def find_snapshot(self, s: Session, ref: str) -> VolumeSnapshot:
        return find(s, VolumeSnapshot, ref, "volume snapshot", project_id=self.ctx.project.id)

    def server_names(self) -> dict[str, str]:
        from labcloud.db.models import Server

        with self.ctx.store.read() as s:
            return dict(s.exec(select(Server.id, Server.name)).all())

    def usage(self, project_id: str | None = None) -> dict[str, int]:
        """Cinder's quota counters for a project: volumes, gigabytes (volumes and
        snapshots) and snapshots."""
        pid = project_id or self.ctx.project.id
        with self.ctx.store.read() as s:
            return usage(s, pid, ("volumes", "gigabytes", "snapshots"))

    # -- create ---------------------------------------------------------------------
    @writes
    def create(
        self,
        name: str,
        size: int | None,
        *,
        image: str | None = None,
        snapshot: str | None = None,
        source: str | None = None,
        volume_type: str | None = None,
        description: str = "",
        bootable: bool | None = None,
    ) -> Volume:
        check_name(name, "volume name")
        if sum(x is not None for x in (image, snapshot, source)) > 1:
            raise UsageError("give at most one of --image, --snapshot and --source")
        if size is not None:
            check_size(size)
        project_id = self.ctx.project.id
        volume_id = new_uuid()
        meta: dict[str, Any] = {}
        src_spec: dict[str, str] | None = None
        row = Volume(
            id=volume_id,
            name=name,
            status="creating",
            project_id=project_id,
            size=0,
            volume_type="",
            description=description,
        )
        with self.ctx.store.read() as s:
            self.refuse_taken(s, Volume, name)
            if image is not None:
                img = find(s, Image, image, "image", project_id=project_id, public_ok=True)
                if img.status != "active":
                    raise Conflict(f"image {img.name} is {img.status}, not active")
                if img.disk_format in ("aki", "ari"):
                    raise UsageError(f"image {img.name} is a kernel or ramdisk, not a disk")
                least = max(gib_ceil(img.virtual_size), img.min_disk)
                size = self._at_least(size, least, f"image {img.name}")
                meta = image_metadata(img)
                row.source_image_id = img.id
                src_spec = {"path": str(self.images_dir / img.checksum), "format": img.file_format}
            elif snapshot is not None:
                snap = self.find_snapshot(s, snapshot)
                if snap.status != "available":
                    raise Conflict(f"volume snapshot {snap.name} is {snap.status}, not available")
                parent = s.get(Volume, snap.volume_id)
                assert parent is not None
                volume_type = self._same_type(volume_type, parent.volume_type, "snapshot")
                size = self._at_least(size, snap.size, f"snapshot {snap.name}")
                meta = json.loads(parent.volume_image_metadata or "{}")
                row.snapshot_id, row.bootable = snap.id, parent.bootable
                src_spec = self.backend(volume_type).source(snap.location)
            elif source is not None:
                src = self.find(s, source)
                if src.status not in ("available", "in-use"):
                    raise Conflict(f"volume {src.name} is {src.status}; it cannot be cloned now")
                volume_type = self._same_type(volume_type, src.volume_type, "source volume")
                size = self._at_least(size, src.size, f"volume {src.name}")
                meta = json.loads(src.volume_image_metadata or "{}")
                row.source_volid, row.bootable = src.id, src.bootable
                src_spec = self.backend(volume_type).source(src.location)
            elif size is None:
                raise UsageError("volume create needs --size GB")
        assert size is not None
        backend = self.backend(volume_type)
        backend.ensure()
        self.check_space(backend, size)
        row.size, row.volume_type = size, backend.name
        row.location = backend.locate("volume", volume_id)
        row.volume_image_metadata = json.dumps(meta)
        row.bootable = (row.bootable or bool(meta)) if bootable is None else bootable
        return self._make(row, src_spec)

    def _make(self, row: Volume, src_spec: dict[str, str] | None) -> Volume:
        backend = self.backend(row.volume_type)

        def allocate(s: Session) -> None:
            self.refuse_taken(s, Volume, row.name)
            charge(self.ctx, s, row.project_id, volumes=1, gigabytes=row.size)
            s.add(row)
            record_event(s, "volume", row.id, row.name, "create requested")

        detail = {"name": row.name, "type": row.volume_type, "location": row.location}
        with self.journal.begin("volume.create", row.id, allocate, **detail) as op:
            try:
                op.step("create")
                backend.create(row.id, row.size * GIB, src_spec)
                op.step("finish")
                with self.ctx.store.write() as s:
                    made = s.get(Volume, row.id)
                    assert made is not None
                    made.status, made.updated_at = "available", utcnow()
                    record_event(s, "volume", row.id, row.name, "available")
                    op.finish(s)
                    s.flush()
                    s.expunge(made)
            except BaseException as exc:
                self.undo_made(op, Volume, row.id, row.name, row.volume_type, row.location, exc)
                raise
        return made

    def undo_made(
        self,
        op: OperationHandle,
        model: type[Volume] | type[VolumeSnapshot],
        rid: str,
        name: str,
        vtype: str,
        location: str,
        why: object,
    ) -> None:
        """Roll back a volume or snapshot create: its backend data, then its row."""
        self.backend(vtype).delete(location)
        kind = "volume" if model is Volume else "snapshot"
        with self.ctx.store.write() as s:
            row = s.get(model, rid)
            if row is not None:
                s.delete(row)
            record_event(s, kind, rid, name, f"create rolled back: {str(why)[:200]}")
            op.finish(s, "rolled_back")

    @staticmethod
    def _at_least(size: int | None, least: int, what: str) -> int:
        if size is None:
            return least
        if size < least:
            raise UsageError(f"size {size} GB is smaller than {what} ({least} GB)")
        return size

    def _same_type(self, asked: str | None, source_type: str, what: str) -> str:
        if asked is not None and asked != source_type:
            raise UsageError(
                f"the {what} is of volume type {source_type}; a copy stays on the same backend"
            )
        return source_type

    def refuse_taken(self, s: Session, model: type, name: str) -> None:
        taken = s.exec(
            select(model.id).where(  # type: ignore[attr-defined]
                model.project_id == self.ctx.project.id,  # type: ignore[attr-defined]
                model.name == name,  # type: ignore[attr-defined]
            )
        ).first()
        if taken:
            what = "volume" if model is Volume else "volume snapshot"
            raise Conflict(
                f"a {what} named {name!r} already exists", "pick another name or delete it first"
            )

    # -- set ------------------------------------------------------------------------
    @writes
    def set(
        self,
        ref: str,
        *,
        name: str | None = None,
        description: str | None = None,
        bootable: bool | None = None,
    ) -> Volume:
        if name is not None:
            check_name(name, "volume name")
        with self.ctx.store.write() as s:
            row = self.find(s, ref)
            if name is not None and name != row.name:
                self.refuse_taken(s, Volume, name)
                row.name = name
            if description is not None:
                row.description = description
            if bootable is not None:
                row.bootable = bootable
            row.updated_at = utcnow()
            record_event(s, "volume", row.id, row.name, "properties set")
            s.flush()
            s.expunge(row)
        return row

    # -- delete ---------------------------------------------------------------------
    @writes
    def delete(self, ref: str) -> Volume:
        with self.ctx.store.read() as s:
            vol = self.find(s, ref)

        def allocate(s: Session) -> None:
            row = s.get(Volume, vol.id)
            if row is None:
                raise NotFound(f"volume {vol.name} was deleted meanwhile")
            if row.server_id:
                raise Conflict(
                    f"volume {row.name} is {row.status} on server "
                    f"{self.server_names().get(row.server_id, row.server_id)}",
                    "detach it first with `labcloud server remove volume`",
                )
            if row.status not in ("available", "error"):
                raise Conflict(f"volume {row.name} is {row.status}; it cannot be deleted now")
            snaps = list(
                s.exec(select(VolumeSnapshot.name).where(VolumeSnapshot.volume_id == row.id))
            )
            if snaps:
                raise Conflict(
                    f"volume {row.name} has {len(snaps)} snapshot(s): {', '.join(sorted(snaps))}",
                    "delete them first with `labcloud volume snapshot delete`",
                )
            row.status, row.updated_at = "deleting", utcnow()
            record_event(s, "volume", row.id, row.name, "delete requested")

        detail = {"name": vol.name, "type": vol.volume_type, "location": vol.location}
        with self.journal.begin("volume.delete", vol.id, allocate, **detail) as op:
            self.delete_steps(op, vol.id, vol.name, vol.volume_type, vol.location)
        vol.status = "deleted"
        return vol

    def delete_steps(
        self, op: OperationHandle, vid: str, name: str, vtype: str, location: str
    ) -> None:
        op.step("delete")
        try:
            self.backend(vtype).delete(location)
        except BackendError as exc:
            with self.ctx.store.write() as s:
                row = s.get(Volume, vid)
                if row is not None:
                    row.status = "error"
                record_event(s, "volume", vid, name, f"delete failed: {exc.message[:200]}")
                op.finish(s, "rolled_back")
            raise
        op.step("finish")
        with self.ctx.store.write() as s:
            row = s.get(Volume, vid)
            if row is not None:
                s.delete(row)
            record_event(s, "volume", vid, name, "deleted")
            op.finish(s)

    # -- extend ---------------------------------------------------------------------
    @writes
    def extend(self, ref: str, new_size: int) -> Volume:
        check_size(new_size, "new size")
        with self.ctx.store.read() as s:
            vol = self.find(s, ref)
        if new_size <= vol.size:
            raise UsageError(
                f"new size {new_size} GB is not larger than volume {vol.name}'s {vol.size} GB",
                "volumes only grow",
            )
        backend = self.backend(vol.volume_type)
        live = False
        if vol.server_id:
            export.refuse_extend(self, vol)
            state = self.ctx.server_hypervisor(vol.server_id).state(vol.server_id)
            live = state is not None and state.state in ("running", "paused")
            if live and not backend.live_extend:
                raise Conflict(
                    f"volume type {backend.name} cannot extend an attached volume while the "
                    "server runs",
                    "stop the server or detach the volume first",
                )
        elif vol.status != "available":
            raise Conflict(f"volume {vol.name} is {vol.status}; it cannot be extended now")
        self.check_space(backend, new_size - vol.size)

        def allocate(s: Session) -> None:
            row = s.get(Volume, vol.id)
            if row is None or row.status not in ("available", "in-use"):
                raise Conflict(f"volume {vol.name} changed meanwhile; try again")
            # The new size counts from now, so a racing create sees it; settling (or
            # recovery) writes the final size either way.
            charge(self.ctx, s, row.project_id, gigabytes=new_size - row.size)
            row.status, row.size, row.updated_at = "extending", new_size, utcnow()

        detail = {
            "name": vol.name,
            "type": vol.volume_type,
            "location": vol.location,
            "previous": vol.status,
            "old_size": vol.size,
        }
        with self.journal.begin("volume.extend", vol.id, allocate, **detail) as op:
            try:
                op.step("resize", live=live)
                size = new_size * GIB
                if not live or backend.live_extend == "device":
                    backend.extend(vol.location, size)
                if live:
                    assert vol.server_id and vol.device
                    self.ctx.server_hypervisor(vol.server_id).block_resize(
                        vol.server_id, vol.device, size
                    )
                op.step("finish")
                result = self.settle_extend(op, vol.id, vol.status, new_size, "extended")
            except BaseException as exc:
                self.settle_extend(op, vol.id, vol.status, vol.size, f"extend failed: {exc}")
                raise
        return result

    def settle_extend(
        self, op: OperationHandle, vid: str, status: str, size: int, note: str
    ) -> Volume:
        with self.ctx.store.write() as s:
            row = s.get(Volume, vid)
            assert row is not None
            row.status, row.size, row.updated_at = status, size, utcnow()
            record_event(s, "volume", vid, row.name, f"{note[:200]} ({size} GB)")
            op.finish(s, "done" if note == "extended" else "rolled_back")
            s.flush()
            s.expunge(row)
        return row

    # -- snapshots (snapshots.py) -----------------------------------------------------
    def list_snapshots(self, volume: str | None = None) -> builtins.list[VolumeSnapshot]:
        return snapshots.list_snapshots(self, volume)

    def get_snapshot(self, ref: str) -> VolumeSnapshot:
        with self.ctx.store.read() as s:
            return self.find_snapshot(s, ref)

    @writes
    def create_snapshot(
        self, name: str, volume: str, *, force: bool = False, description: str = ""
    ) -> VolumeSnapshot:
        return snapshots.create(self, name, volume, force=force, description=description)

    @writes
    def delete_snapshot(self, ref: str) -> VolumeSnapshot:
        return snapshots.delete(self, ref)

    def delete_snapshot_steps(
        self, op: OperationHandle, sid: str, name: str, vtype: str, location: str
    ) -> None:
        snapshots.delete_steps(self, op, sid, name, vtype, location)

    # -- attach / detach (attach.py) --------------------------------------------------
    @writes
    def attach(self, server: str, volume: str, device: str | None = None) -> Volume:

        return attachment.attach(self, server, volume, device)

    @writes
    def detach(self, server: str, volume: str, timeout: float = 60.0) -> Volume:

        return attachment.detach(self, server, volume, timeout)

    def disk_spec(self, vol: Volume) -> dict[str, object]:
        """The DiskConfig of an attached volume, for the domain XML or hot-plug."""

        spec = export.network_spec(self, vol.id) or dict(
            self.backend(vol.volume_type).disk_spec(vol.location)
        )
        spec.update(target=vol.device or "vdb", serial=devices.serial_of(vol.id))
        return spec

    # -- the server part ----------------------------------------------------------------
    @property
    def part(self) -> Any:

        return part.VolumePart(self)

    # -- crash recovery -------------------------------------------------------------
    def recover(self) -> builtins.list[tuple[str, str, str]]:

        return recovery.recover(self)

    def reconcile_exports(self) -> None:

        export.reconcile(self)
