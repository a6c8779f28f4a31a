"""The volume service's part in a server's life (core/server_parts.py): boot from volume and
volumes attached at create.

`--volume VOL` boots from an existing volume, detached and kept when the server goes.
`--boot-from-image IMG --boot-volume-size GB` makes a volume from the image at create and
deletes it with the server (Nova's delete_on_termination for that flow). Either way the
volume is the root disk, vda, and compute makes no overlay.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from sqlmodel import Session, select

from labcloud.db.models import Image, Server, utcnow
from labcloud.db.volume_models import Volume
from labcloud.errors import Conflict, UsageError
from labcloud.names import new_uuid
from labcloud.services.core import CreateRequest, Devices, charge, record_event
from labcloud.services.volumes.devices import CANDIDATES, ROOT_DEVICE
from labcloud.services.volumes.export import drop_export
from labcloud.services.volumes.models import GIB, check_size, gib_ceil, image_metadata

if TYPE_CHECKING:
    from labcloud.services.volumes.host import VolumeHost


def boot_volume_name(server_name: str) -> str:
    return f"{server_name}-boot"[:64]


class VolumePart:
    claims = frozenset({"boot_volume", "boot_volume_size", "volumes"})

    def __init__(self, service: VolumeHost) -> None:
        self.svc = service

    # -- for compute, when no image was given -------------------------------------------
    def boot_image_id(self, s: Session, request: CreateRequest) -> str | None:
        """The image a boot volume was made from: its kernel, ramdisk and command line."""
        if request.boot_volume is None:
            return None
        vol = self.svc.find(s, request.boot_volume)
        image_id = json.loads(vol.volume_image_metadata or "{}").get("image_id")
        if not image_id or s.get(Image, image_id) is None:
            raise UsageError(
                f"volume {vol.name} records no image to boot with",
                "make it with `volume create --image`, or give --image too",
            )
        return str(image_id)

    # -- ServerPart -----------------------------------------------------------------
    def validate(self, s: Session, request: CreateRequest, server: Server) -> None:
        for vol in self._existing(s, request):
            _check_free(vol)
        if request.boot_volume is not None and not self.svc.find(s, request.boot_volume).bootable:
            raise UsageError(
                f"volume {request.boot_volume} is not bootable",
                "mark it with `labcloud volume set --bootable`",
            )
        if request.boot_volume_size is not None:
            check_size(request.boot_volume_size, "--boot-volume-size")
            image = s.get(Image, server.image_id) if server.image_id else None
            if image is None:
                raise UsageError("--boot-volume-size needs --boot-from-image IMG")
            if image.disk_format in ("aki", "ari"):
                raise UsageError(f"image {image.name} is a kernel or ramdisk, not a disk")
            least = max(gib_ceil(image.virtual_size), image.min_disk)
            if request.boot_volume_size < least:
                raise UsageError(
                    f"--boot-volume-size {request.boot_volume_size} GB is smaller than image "
                    f"{image.name} ({least} GB)"
                )
            self.svc.refuse_taken(s, Volume, boot_volume_name(server.name))
            backend = self.svc.backend()
            backend.ensure()
            self.svc.check_space(backend, request.boot_volume_size)
        if len(request.volumes) > len(CANDIDATES):
            raise UsageError(f"at most {len(CANDIDATES)} volumes per server")

    def allocate(self, s: Session, request: CreateRequest, server: Server) -> None:
        now = utcnow()
        if server.node != "local":
            self._check_remote(s, request, server)
        if request.boot_volume_size is not None:
            image = s.get(Image, server.image_id)
            assert image is not None
            backend = self.svc.backend()
            vid = new_uuid()
            charge(
                self.svc.ctx, s, server.project_id, volumes=1, gigabytes=request.boot_volume_size
            )
            s.add(
                Volume(
                    id=vid,
                    name=boot_volume_name(server.name),
                    status="creating",
                    project_id=server.project_id,
                    size=request.boot_volume_size,
                    volume_type=backend.name,
                    location=backend.locate("volume", vid),
                    bootable=True,
                    source_image_id=image.id,
                    volume_image_metadata=json.dumps(image_metadata(image)),
                    server_id=server.id,
                    device=ROOT_DEVICE,
                    boot_index=0,
                    delete_on_termination=True,
                    attached_at=now,
                )
            )
            record_event(s, "volume", vid, boot_volume_name(server.name), "boot volume requested")
        vols = self._existing(s, request)
        for vol in vols:
            _check_free(vol)
        devices = iter(CANDIDATES)
        for vol in vols:
            root = request.boot_volume is not None and vol.id == vols[0].id
            vol.status, vol.server_id = "attaching", server.id
            vol.device = ROOT_DEVICE if root else next(devices)
            vol.boot_index = 0 if root else None
            vol.delete_on_termination = False
            vol.attached_at = vol.updated_at = now
            record_event(s, "volume", vol.id, vol.name, f"attach to {server.name} as {vol.device}")

    def _check_remote(self, s: Session, request: CreateRequest, server: Server) -> None:
        """Another node reaches only file volumes (through storage shared with node local,
        which the scheduler checked); an LVM volume's device is on node local only."""
        types = [v.volume_type for v in self._existing(s, request)]
        if request.boot_volume_size is not None:
            types.append(self.svc.backend().name)
        for name in types:
            backend = self.svc.backend(name)
            if backend.kind != "file":
                raise Conflict(
                    f"server {server.name} goes to node {server.node}, which cannot reach "
                    f"{backend.kind} volumes (volume type {name}) on node local",
                    "use a file volume type, or --node local",
                )

    def provision(self, server: Server, request: CreateRequest) -> None:
        with self.svc.ctx.store.read() as s:
            rows = list(s.exec(select(Volume).where(Volume.server_id == server.id)))
            image = s.get(Image, server.image_id) if server.image_id else None
        for vol in rows:
            if vol.status == "creating":
                assert image is not None
                source = {
                    "path": str(self.svc.images_dir / image.checksum),
                    "format": image.file_format,
                }
                self.svc.backend(vol.volume_type).create(vol.id, vol.size * GIB, source)
        if not rows:
            return  # a server without volumes: nothing to mark in-use
        with self.svc.ctx.store.write() as s:
            for vol in s.exec(select(Volume).where(Volume.server_id == server.id)):
                if vol.status in ("creating", "attaching"):
                    vol.status, vol.updated_at = "in-use", utcnow()

    def devices(self, server: Server) -> Devices:
        with self.svc.ctx.store.read() as s:
            rows = list(
                s.exec(select(Volume).where(Volume.server_id == server.id).order_by(Volume.device))
            )
        devices = Devices()
        for vol in rows:
            if vol.device is None:
                continue
            spec = self.svc.disk_spec(vol)
            if vol.boot_index == 0:
                spec["boot_order"] = 1
                devices.root = True
            devices.disks.append(spec)
        return devices

    def release(self, server_id: str) -> None:
        """Delete the volumes made for this server; detach (in the store) the others."""
        with self.svc.ctx.store.read() as s:
            rows = list(s.exec(select(Volume).where(Volume.server_id == server_id)))
        for vol in rows:
            drop_export(self.svc, vol.id)  # its server is gone: no one reads the export
            if vol.delete_on_termination:
                self.svc.backend(vol.volume_type).delete(vol.location)
        with self.svc.ctx.store.write() as s:
            for vol in s.exec(select(Volume).where(Volume.server_id == server_id)):
                if vol.delete_on_termination:
                    s.delete(vol)
                    record_event(s, "volume", vol.id, vol.name, "deleted with its server")
                else:
                    vol.status, vol.server_id, vol.device = "available", None, None
                    vol.boot_index, vol.attached_at, vol.updated_at = None, None, utcnow()
                    record_event(s, "volume", vol.id, vol.name, "detached: server deleted")

    # -- helpers --------------------------------------------------------------------
    def _existing(self, s: Session, request: CreateRequest) -> list[Volume]:
        refs = ([request.boot_volume] if request.boot_volume else []) + list(request.volumes)
        vols = [self.svc.find(s, ref) for ref in refs]
        if len({v.id for v in vols}) != len(vols):
            raise UsageError("the same volume is given twice")
        return vols


def _check_free(vol: Volume) -> None:
    if vol.server_id or vol.status != "available":
        raise Conflict(
            f"volume {vol.name} is {vol.status}, not available",
            "a volume attaches to one server at a time",
        )
