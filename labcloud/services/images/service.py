"""Images (Glance): a content-addressed store under state_dir/images, by sha256.

Imports and snapshots are journalled: the row is inserted as "saving" (claiming the
name), the file is written under a temporary name, its digest journalled, then it is
renamed to the digest and the row turns "active". A crash at any point is rolled back
by `recover()`: the row, the temporary file and an unreferenced stored file go.
"""

from __future__ import annotations

import builtins
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, or_, select

from labcloud.db.models import Image, Operation, Server, utcnow
from labcloud.errors import Conflict, NotFound, UsageError
from labcloud.names import check_name, check_property_key, new_uuid
from labcloud.services.core import (
    Journal,
    OperationHandle,
    ServiceContext,
    find,
    record_event,
    writes,
)
from labcloud.services.images import formats as image_formats
from labcloud.services.images.snapshot import Progress, ServerSnapshots

TINY_DISK_SIZE = 64 * 1024 * 1024
# The tiny guest prints this when it has booted; `console log --wait-for` can use it.
TINY_READY = "labcloud-tiny: ready"
VISIBILITIES = ("private", "public")
# Columns of an image, which a free-form property may not shadow (as Glance refuses).
RESERVED_PROPERTIES = frozenset(Image.model_fields) | {"location", "os_hash_value"}
# Properties a snapshot keeps from its server's image, so it boots the same way.
TMP_PREFIX = ".import-"


class ImageService(ServerSnapshots):
    noun = "image"

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.journal = Journal(ctx.store, ctx.state_dir / "locks")
        # (node, path, size, sha256): bring a file made on a node without shared storage
        # (a snapshot) into this node's state_dir, verified (lab.py wires the nodes' copy).
        self.fetch_from_node: Callable[[str, str, int, str], None] | None = None

    @property
    def store_dir(self) -> Path:
        return self.ctx.state_dir / "images"

    def path_of(self, image: Image) -> str:
        return str(self.store_dir / image.checksum)

    # -- queries --------------------------------------------------------------------
    def list(self) -> list[Image]:
        with self.ctx.store.read() as s:
            query = select(Image).where(or_(self.ctx.scope(Image), Image.visibility == "public"))
            return list(s.exec(query.order_by(Image.name)))

    def get(self, ref: str) -> Image:
        with self.ctx.store.read() as s:
            return self._find(s, ref)

    def _find(self, s: Session, ref: str) -> Image:
        return find(s, Image, ref, "image", project_id=self.ctx.project.id, public_ok=True)

    # -- the built-in tiny image ----------------------------------------------------
    @writes
    def create_builtin(self, name: str) -> Image:
        """A CirrOS-like trio: NAME (ami) booting NAME-kernel (aki) with NAME-ramdisk (ari)."""
        check_name(name, "image name")
        # Builtin images are public, as devstack's CirrOS: publishing is Glance's admin rule.
        self.ctx.access.require_admin("a builtin (public) image")
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

    def _refuse_existing(self, names: builtins.list[str]) -> None:
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

    # -- import ---------------------------------------------------------------------
    @writes
    def create(
        self,
        name: str,
        file: str,
        *,
        disk_format: str = "auto",
        container_format: str | None = None,
        kernel_id: str | None = None,
        ramdisk_id: str | None = None,
        properties: dict[str, str] | None = None,
        min_disk: int = 0,
        min_ram: int = 0,
        visibility: str = "private",
        protected: bool = False,
        progress: Progress | None = None,
    ) -> Image:
        """Import a file: detect its format, refuse unsafe files, stream it into the store."""
        check_name(name, "image name")
        props = _check_properties(properties or {})
        _check_limits(min_disk, min_ram, visibility)
        if visibility == "public":
            self.ctx.access.require_admin("a public image")
        image_formats.check_formats(disk_format, container_format)
        self._refuse_existing([name])
        kernel, ramdisk = self._boot_images(kernel_id, ramdisk_id)
        facts = self.ctx.agent.inspect_image(file)
        plan = image_formats.plan_import(disk_format, container_format, facts, file)
        if plan.disk_format in ("aki", "ari", "iso") and (kernel or ramdisk):
            raise UsageError(f"a {plan.disk_format} image cannot have a kernel or ramdisk")
        if plan.disk_format == "ami" and kernel is None:
            raise UsageError("an ami image needs --kernel-id (the aki it boots with)")
        props = {**plan.properties, **props}
        image = Image(
            id=new_uuid(),
            name=name,
            status="saving",
            project_id=self.ctx.project.id,
            disk_format=plan.disk_format,
            container_format=plan.container_format,
            file_format=plan.file_format,
            virtual_size=plan.source.virtual_size,
            visibility=visibility,
            protected=protected,
            min_disk=min_disk,
            min_ram=min_ram,
            kernel_id=kernel.id if kernel else None,
            ramdisk_id=ramdisk.id if ramdisk else None,
            properties=json.dumps(props, sort_keys=True),
        )

        def write(op: OperationHandle, tmp: str) -> tuple[str, int]:
            convert = plan.source.qemu_format if plan.convert else None
            digest, size = self.ctx.agent.import_image(
                file, str(self.store_dir), tmp, convert, progress
            )
            if plan.convert:  # the converted file is checked like any input
                facts = self.ctx.agent.inspect_image(str(self.store_dir / tmp))
                image_formats.detect(facts, f"the converted {file}")
            return digest, size

        return self._saving(image, "image.import", write, f"imported from {Path(file).name}")

    def _saving(
        self,
        image: Image,
        kind: str,
        write: Callable[[OperationHandle, str], tuple[str, int]],
        note: str,
        claim: Callable[[Session], None] | None = None,
        **detail: object,
    ) -> Image:
        """Insert the row as saving, write the file, publish it, mark the row active.
        `claim` runs in the same transaction (a snapshot marks its server busy there)."""
        tmp = f"{TMP_PREFIX}{image.id}"

        def allocate(s: Session) -> None:
            if claim is not None:
                claim(s)
            s.add(image)
            record_event(s, "image", image.id, image.name, f"{kind} started")

        try:
            with self.journal.begin(
                kind, image.id, allocate, name=image.name, tmp=tmp, **detail
            ) as op:
                try:
                    op.step("write")
                    digest, size = write(op, tmp)
                    op.step("publish", checksum=digest)
                    self.ctx.agent.publish_image(str(self.store_dir), tmp, digest)
                    with self.ctx.store.write() as s:
                        row = s.get(Image, image.id)
                        assert row is not None
                        row.checksum, row.size, row.status = digest, size, "active"
                        row.updated_at = utcnow()
                        record_event(s, "image", image.id, image.name, note)
                        op.finish(s)
                        s.flush()
                        s.refresh(row)
                        s.expunge(row)
                    return row
                except BaseException:
                    self._undo_saving(op, image.id, tmp)
                    raise
        except IntegrityError:
            raise Conflict(
                f"an image named {image.name!r} already exists",
                "pick another name or delete it first",
            ) from None

    def _undo_saving(self, op: OperationHandle, image_id: str, tmp: str) -> None:
        with self.ctx.store.read() as s:
            row = s.get(Operation, op.id)
            checksum = json.loads(row.detail).get("checksum") if row else None
        self.ctx.agent.remove_file(str(self.store_dir / tmp))
        with self.ctx.store.write() as s:
            img = s.get(Image, image_id)
            if img is not None and img.status != "active":
                s.delete(img)
                record_event(s, "image", image_id, img.name, "save rolled back")
            op.finish(s, "rolled_back")
        if checksum:
            self._drop_unreferenced([checksum])

    def recover(self) -> builtins.list[str]:
        """Roll back imports and snapshots whose process died. Returns the image names."""
        done: list[str] = []
        for op in self.journal.interrupted():
            if not op.kind.startswith("image."):
                continue
            with self.journal.adopt(op) as handle:
                if handle is None:
                    continue
                detail = json.loads(op.detail)
                if op.kind == "image.snapshot" and detail.get("server_id"):
                    self._release_server(str(detail["server_id"]), op.step == "copy")
                self._undo_saving(handle, op.resource_id, detail.get("tmp", TMP_PREFIX + "x"))
                done.append(detail.get("name", op.resource_id))
        return done

    def _boot_images(
        self, kernel_ref: str | None, ramdisk_ref: str | None
    ) -> tuple[Image | None, Image | None]:
        found: list[Image | None] = []
        with self.ctx.store.read() as s:
            for ref, fmt in ((kernel_ref, "aki"), (ramdisk_ref, "ari")):
                if ref is None:
                    found.append(None)
                    continue
                image = self._find(s, ref)
                if image.disk_format != fmt or image.status != "active":
                    raise UsageError(
                        f"image {image.name} is {image.status} {image.disk_format}, not an "
                        f"active {fmt}",
                        f"--{'kernel' if fmt == 'aki' else 'ramdisk'}-id takes an {fmt} image",
                    )
                found.append(image)
        if found[1] is not None and found[0] is None:
            raise UsageError("--ramdisk-id needs --kernel-id too")
        return found[0], found[1]

    # -- set and save ---------------------------------------------------------------
    @writes
    def update(
        self,
        ref: str,
        *,
        name: str | None = None,
        properties: dict[str, str] | None = None,
        remove_properties: builtins.list[str] | None = None,
        min_disk: int | None = None,
        min_ram: int | None = None,
        visibility: str | None = None,
        protected: bool | None = None,
    ) -> Image:
        if name is not None:
            check_name(name, "image name")
        props = _check_properties(properties or {})
        _check_limits(min_disk or 0, min_ram or 0, visibility or "private")
        if visibility == "public":
            self.ctx.access.require_admin("a public image")
        try:
            with self.ctx.store.write() as s:
                image = self._find(s, ref)
                if image.project_id != self.ctx.project.id:
                    raise Conflict(f"image {image.name} belongs to another project")
                merged = json.loads(image.properties or "{}")
                for key in remove_properties or []:
                    if key not in merged:
                        raise NotFound(f"image {image.name} has no property {key!r}")
                    del merged[key]
                merged.update(props)
                image.properties = json.dumps(merged, sort_keys=True)
                for field, value in (
                    ("name", name),
                    ("min_disk", min_disk),
                    ("min_ram", min_ram),
                    ("visibility", visibility),
                    ("protected", protected),
                ):
                    if value is not None:
                        setattr(image, field, value)
                image.updated_at = utcnow()
                record_event(s, "image", image.id, image.name, "updated")
                s.flush()
                s.refresh(image)
                s.expunge(image)
        except IntegrityError:
            raise Conflict(f"an image named {name!r} already exists") from None
        return image

    def save(self, ref: str, dest: str, progress: Progress | None = None) -> Image:
        """Write an image's stored file out to dest (as stored: qcow2 or raw)."""
        image = self.get(ref)
        if image.status != "active":
            raise Conflict(f"image {image.name} is {image.status}, not active")
        self.ctx.agent.export_image(self.path_of(image), dest, progress)
        return image

    # -- delete ---------------------------------------------------------------------
    @writes
    def delete(self, ref: str) -> Image:
        with self.ctx.store.write() as s:
            image = self._find(s, ref)
            if image.protected:
                raise Conflict(
                    f"image {image.name} is protected",
                    "unprotect it with `labcloud image set --unprotected` first",
                )
            users = sorted(s.exec(select(Server.name).where(Server.image_id == image.id)))
            if users:
                raise Conflict(
                    f"image {image.name} is in use by server(s) {', '.join(users)}",
                    "delete those servers first",
                )
            if image.status == "saving":
                raise Conflict(f"image {image.name} is still being saved")
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

    def _drop_unreferenced(self, checksums: builtins.list[str]) -> None:
        with self.ctx.store.read() as s:
            used = set(s.exec(select(Image.checksum).where(Image.checksum.in_(checksums))))  # type: ignore[attr-defined]
        for digest in set(checksums) - used:
            self.ctx.agent.remove_file(str(self.store_dir / digest))


def _check_properties(props: dict[str, str]) -> dict[str, str]:
    for key in props:
        check_property_key(key)
        if key in RESERVED_PROPERTIES:
            raise UsageError(
                f"property {key!r} is reserved", "set it with its own option, not --property"
            )
    return props


def _check_limits(min_disk: int, min_ram: int, visibility: str) -> None:
    if min_disk < 0 or min_ram < 0:
        raise UsageError("--min-disk and --min-ram must be 0 or more")
    if visibility not in VISIBILITIES:
        raise UsageError(f"unknown visibility {visibility!r}", "use public or private")
