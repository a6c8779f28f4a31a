"""Images (Glance): a content-addressed store under state_dir/images, by sha256."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, or_, select

from labcloud.db.models import Image, Server
from labcloud.errors import Conflict
from labcloud.names import check_name, new_uuid
from labcloud.services.context import ServiceContext, find, record_event

TINY_DISK_SIZE = 64 * 1024 * 1024
# The tiny guest prints this when it has booted; `console log --wait-for` can use it.
TINY_READY = "labcloud-tiny: ready"


class ImageService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    @property
    def store_dir(self) -> Path:
        return self.ctx.state_dir / "images"

    def path_of(self, image: Image) -> str:
        return str(self.store_dir / image.checksum)

    # -- queries --------------------------------------------------------------------
    def list(self) -> list[Image]:
        project_id = self.ctx.project.id
        with self.ctx.store.read() as s:
            query = select(Image).where(
                or_(Image.project_id == project_id, Image.visibility == "public")
            )
            return list(s.exec(query.order_by(Image.name)))

    def get(self, ref: str) -> Image:
        with self.ctx.store.read() as s:
            return self._find(s, ref)

    def _find(self, s: Session, ref: str) -> Image:
        return find(s, Image, ref, "image", project_id=self.ctx.project.id, public_ok=True)

    # -- the built-in tiny image ----------------------------------------------------
    def create_builtin(self, name: str) -> Image:
        """A CirrOS-like trio: NAME (ami) booting NAME-kernel (aki) with NAME-ramdisk (ari)."""
        check_name(name, "image name")
        kernel_name, ramdisk_name = f"{name}-kernel", f"{name}-ramdisk"
        for n in (kernel_name, ramdisk_name):
            check_name(n, "image name")
        self._refuse_existing([name, kernel_name, ramdisk_name])
        agent = self.ctx.agent
        tmp_root = self.ctx.state_dir / "tmp"
        tmp_root.mkdir(parents=True, exist_ok=True)
        stored: list[str] = []
        with tempfile.TemporaryDirectory(dir=tmp_root, prefix="builtin-") as tmp:
            built = agent.build_tiny_image(tmp)
            disk = str(Path(tmp) / "disk.qcow2")
            agent.create_blank(disk, "qcow2", TINY_DISK_SIZE)
            files = {}
            for key, src in (
                ("kernel", built["kernel"]),
                ("ramdisk", built["ramdisk"]),
                ("disk", disk),
            ):
                digest, size, _path = agent.store_file(src, str(self.store_dir))
                stored.append(digest)
                files[key] = (digest, size)
        project_id = self.ctx.project.id
        kernel = Image(
            id=new_uuid(),
            name=kernel_name,
            status="active",
            project_id=project_id,
            disk_format="aki",
            container_format="aki",
            file_format="raw",
            checksum=files["kernel"][0],
            size=files["kernel"][1],
            virtual_size=files["kernel"][1],
            visibility="public",
            properties=json.dumps({"kernel_version": built["kernel_version"]}),
        )
        ramdisk = Image(
            id=new_uuid(),
            name=ramdisk_name,
            status="active",
            project_id=project_id,
            disk_format="ari",
            container_format="ari",
            file_format="raw",
            checksum=files["ramdisk"][0],
            size=files["ramdisk"][1],
            virtual_size=files["ramdisk"][1],
            visibility="public",
        )
        machine = Image(
            id=new_uuid(),
            name=name,
            status="active",
            project_id=project_id,
            disk_format="ami",
            container_format="ami",
            file_format="qcow2",
            checksum=files["disk"][0],
            size=files["disk"][1],
            virtual_size=TINY_DISK_SIZE,
            visibility="public",
            kernel_id=kernel.id,
            ramdisk_id=ramdisk.id,
            properties=json.dumps(
                {
                    "os_command_line": built["cmdline"],
                    "ready_pattern": TINY_READY,
                    "builtin": "tiny",
                }
            ),
        )
        try:
            with self.ctx.store.write() as s:
                s.add(kernel)
                s.add(ramdisk)
                s.flush()
                s.add(machine)
                record_event(s, "image", machine.id, name, "created from the built-in tiny image")
        except IntegrityError:
            self._drop_unreferenced(stored)
            raise Conflict(f"an image named {name!r} already exists") from None
        return machine

    def _refuse_existing(self, names: list[str]) -> None:
        project_id = self.ctx.project.id
        with self.ctx.store.read() as s:
            taken = list(
                s.exec(
                    select(Image.name).where(
                        Image.name.in_(names),  # type: ignore[attr-defined]
                        or_(Image.project_id == project_id, Image.visibility == "public"),
                    )
                )
            )
        if taken:
            raise Conflict(
                f"an image named {taken[0]!r} already exists",
                "pick another name or delete it first",
            )

    # -- delete ---------------------------------------------------------------------
    def delete(self, ref: str) -> Image:
        with self.ctx.store.write() as s:
            image = self._find(s, ref)
            if image.protected:
                raise Conflict(
                    f"image {image.name} is protected",
                    "unprotect it with `labcloud image set --unprotected` first",
                )
            users = list(s.exec(select(Server.name).where(Server.image_id == image.id)))
            if users:
                raise Conflict(
                    f"image {image.name} is in use by server(s) {', '.join(users)}",
                    "delete those servers first",
                )
            parents = list(
                s.exec(
                    select(Image.name).where(
                        or_(Image.kernel_id == image.id, Image.ramdisk_id == image.id)
                    )
                )
            )
            if parents:
                raise Conflict(
                    f"image {image.name} is the kernel or ramdisk of {', '.join(parents)}",
                    "delete those images first",
                )
            s.delete(image)
            record_event(s, "image", image.id, image.name, "deleted")
        self._drop_unreferenced([image.checksum])
        return image

    def _drop_unreferenced(self, checksums: list[str]) -> None:
        with self.ctx.store.read() as s:
            used = set(s.exec(select(Image.checksum).where(Image.checksum.in_(checksums))))  # type: ignore[attr-defined]
        for digest in set(checksums) - used:
            self.ctx.agent.remove_file(str(self.store_dir / digest))
