"""Creating a server: the parts claim, allocate and provision; the domain is defined
and started; every step journalled, so a killed create is finished or rolled back."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from labcloud.db.models import Flavor, Image, Server, utcnow
from labcloud.errors import Conflict, NotFound, UsageError
from labcloud.names import check_name, new_uuid
from labcloud.services.compute.base import ComputeBase
from labcloud.services.compute.models import (
    DOMAIN_PREFIX,
    GIB,
    check_deadline,
)
from labcloud.services.core import (
    CreateRequest,
    Devices,
    OperationHandle,
    charge,
    find,
    record_event,
    writes,
)


class CreateOps(ComputeBase):
    # -- create ---------------------------------------------------------------------
    @writes
    def create(
        self,
        name: str,
        image_ref: str | None,
        flavor_ref: str,
        *,
        request: CreateRequest | None = None,
        timeout: float = 300.0,
        progress: Callable[[str], None] | None = None,
    ) -> Server:
        check_name(name, "server name")
        request = request or CreateRequest()
        self._check_claimed(request)
        deadline = time.monotonic() + timeout
        project = self.ctx.project
        with self.ctx.store.read() as s:
            flavor = find(s, Flavor, flavor_ref, "flavor")
            if image_ref is None:
                image_ref = self._boot_volume_image(s, request)
            image = find(s, Image, image_ref, "image", project_id=project.id, public_ok=True)
            kernel = s.get(Image, image.kernel_id) if image.kernel_id else None
            ramdisk = s.get(Image, image.ramdisk_id) if image.ramdisk_id else None
            if s.exec(
                select(Server.id).where(Server.project_id == project.id, Server.name == name)
            ).first():
                raise Conflict(
                    f"a server named {name!r} already exists",
                    "pick another name or delete it first",
                )
            server_id = new_uuid()
            server = self._new_server(server_id, name, project.id, image, flavor)
            for part in self.parts:
                part.validate(s, request, server)
        if not request.boots_from_volume:
            self._check_bootable(image, flavor)
        report = progress or (lambda _step: None)

        def allocate(s: Session) -> None:
            charge(self.ctx, s, project.id, instances=1, cores=flavor.vcpus, ram=flavor.ram)
            s.add(server)
            for part in self.parts:
                part.allocate(s, request, server)
            record_event(s, "server", server_id, name, "create requested")

        try:
            with self.journal.begin("server.create", server_id, allocate, name=name) as op:
                try:
                    disk = self.instance_dir(server_id) / "disk"
                    op.step("disk")
                    # The node the scheduler chose (placement part) holds disk and console.
                    agent = self._agent(server.node)
                    report("choosing the accelerator")
                    virt_type = agent.virt_type(self.ctx.config.site.virt_type)
                    report("creating the root disk")
                    agent.make_dir(str(self.instance_dir(server_id)))
                    self._stage_images(server.node, request, image, kernel, ramdisk, report)
                    if image.disk_format == "iso" and not request.boots_from_volume:
                        # Install media: the ISO is a CD-ROM; the root disk starts blank.
                        agent.create_blank(str(disk), "qcow2", flavor.disk * GIB)
                    elif not request.boots_from_volume:
                        size = max(flavor.disk * GIB, image.virtual_size)
                        agent.create_overlay(
                            str(self.images_dir / image.checksum),
                            image.file_format,
                            str(disk),
                            size,
                        )
                    check_deadline(deadline, timeout, "creating the root disk")
                    op.step("plug")
                    for part in self.parts:
                        report(f"preparing {type(part).__name__}")
                        part.provision(server, request)
                    check_deadline(deadline, timeout, "preparing devices")
                    op.step("define")
                    report("defining the domain")
                    self.hypervisor_on(server.node).define(
                        self._domain_xml(server, image, kernel, ramdisk, virt_type, str(disk))
                    )
                    op.step("start")
                    report(f"starting the domain on node {server.node}")
                    self.start_domain(server_id, server.node)
                    op.step("finish")
                    report("recording ACTIVE")
                    finished = self._finish_create(op, server_id, name, "ACTIVE")
                    assert finished is not None
                    server = finished
                except BaseException as exc:
                    self._rollback_create(server_id, name, str(exc) or type(exc).__name__)
                    with self.ctx.store.write() as s:
                        op.finish(s, "rolled_back")
                    raise
        except IntegrityError:
            raise Conflict(f"a server named {name!r} already exists") from None
        return server

    def _boot_volume_image(self, s: Session, request: CreateRequest) -> str:
        """No image given: the boot volume's source image (Cinder's volume_image_metadata)
        gives the kernel, ramdisk and command line."""
        for part in self.parts:
            image_of = getattr(part, "boot_image_id", None)
            found = image_of(s, request) if image_of is not None else None
            if found:
                return str(found)
        raise UsageError("give --image, --volume or --boot-from-image")

    def _check_claimed(self, request: CreateRequest) -> None:
        claimed: set[str] = set()
        for part in self.parts:
            claimed |= part.claims
        unclaimed = sorted(request.requested() - claimed)
        if unclaimed:
            options = ", ".join("--" + f.replace("_", "-") for f in unclaimed)
            raise UsageError(f"this lab cannot handle {options} yet")

    @staticmethod
    def _new_server(
        server_id: str, name: str, project_id: str, image: Image, flavor: Flavor
    ) -> Server:
        return Server(
            id=server_id,
            name=name,
            status="BUILD",
            task_state="spawning",
            project_id=project_id,
            image_id=image.id,
            flavor_id=flavor.id,
            flavor_name=flavor.name,
            vcpus=flavor.vcpus,
            ram=flavor.ram,
            disk=flavor.disk,
            domain_name=f"{DOMAIN_PREFIX}{server_id}",
        )

    def _finish_create(
        self, op: OperationHandle, server_id: str, name: str, note: str
    ) -> Server | None:
        """The last step of a create, by its own process or by recovery: mark it ACTIVE."""
        with self.ctx.store.write() as s:
            row = s.get(Server, server_id)
            if row is not None:
                row.status, row.power_state, row.task_state = "ACTIVE", "RUNNING", None
                row.launched_at = row.updated_at = utcnow()
                record_event(s, "server", server_id, name, note)
            op.finish(s)
        return row

    def redefine(self, server_id: str) -> None:
        """Define a server's domain again from the store, e.g. after it was undefined by hand."""
        with self.ctx.store.read() as s:
            server = s.get(Server, server_id)
            if server is None:
                raise NotFound(f"no server {server_id}")
            image = s.get(Image, server.image_id) if server.image_id else None
            if image is None:
                raise NotFound(f"server {server.name}'s image is gone; it cannot be redefined")
            kernel = s.get(Image, image.kernel_id) if image.kernel_id else None
            ramdisk = s.get(Image, image.ramdisk_id) if image.ramdisk_id else None
        virt_type = self._agent(server.node).virt_type(self.ctx.config.site.virt_type)
        disk = str(self.instance_dir(server_id) / "disk")
        self.hypervisor_on(server.node).define(
            self._domain_xml(server, image, kernel, ramdisk, virt_type, disk)
        )

    def _check_bootable(self, image: Image, flavor: Flavor) -> None:
        if image.status != "active":
            raise Conflict(f"image {image.name} is {image.status}, not active")
        if image.disk_format in ("aki", "ari"):
            raise UsageError(
                f"image {image.name} is a {image.disk_format} (kernel or ramdisk)",
                "boot the machine image (ami) that references it",
            )
        if image.disk_format == "iso" and not flavor.disk:
            raise UsageError(
                f"image {image.name} is install media (iso) and flavor {flavor.name} has no disk",
                "pick a flavor with a root disk to install onto",
            )
        if image.disk_format == "ami" and not image.kernel_id:
            raise UsageError(f"image {image.name} is an ami without a kernel_id")
        if flavor.disk and image.disk_format != "iso" and image.virtual_size > flavor.disk * GIB:
            raise UsageError(
                f"flavor {flavor.name}'s disk ({flavor.disk} GiB) is smaller than image "
                f"{image.name} ({image.virtual_size / GIB:.1f} GiB)",
                "pick a larger flavor",
            )
        if image.min_disk and flavor.disk < image.min_disk:
            raise UsageError(
                f"image {image.name} needs a disk of {image.min_disk} GiB", "pick a larger flavor"
            )
        if image.min_ram and flavor.ram < image.min_ram:
            raise UsageError(
                f"image {image.name} needs {image.min_ram} MiB of RAM", "pick a larger flavor"
            )

    def _domain_xml(
        self,
        server: Server,
        image: Image,
        kernel: Image | None,
        ramdisk: Image | None,
        virt_type: str,
        disk: str,
    ) -> str:
        devices = self.devices(server)
        disks: list[dict[str, object]] = []
        install_media = image.disk_format == "iso" and not devices.root
        if not devices.root:
            root: dict[str, object] = {"path": disk, "target": "vda", "file_format": "qcow2"}
            if install_media:
                root["boot_order"] = 2  # after the ISO: the installed system boots next
            disks.append(root)
        if install_media:
            disks.append(
                {
                    "path": str(self.images_dir / image.checksum),
                    "target": "hdc",  # IDE secondary master, where BIOSes look for a CD
                    "bus": "ide",
                    "device": "cdrom",
                    "file_format": "raw",
                    "readonly": True,
                    "boot_order": 1,
                }
            )
        disks.extend(devices.disks)
        props = json.loads(image.properties or "{}")
        cmdline = props.get("os_command_line")
        if cmdline and props.get("builtin") == "tiny":
            cmdline = f"{cmdline} labcloud.hostname={server.name}"
        spec: dict[str, object] = {
            "uuid": server.id,
            "name": server.domain_name,
            "vcpus": server.vcpus,
            "memory_mib": server.ram,
            "virt_type": virt_type,
            "console_log": str(self.console_path(server.id)),
            "disks": disks,
            "nics": devices.nics,
            "kernel": str(self.images_dir / kernel.checksum) if kernel else None,
            "initrd": str(self.images_dir / ramdisk.checksum) if ramdisk else None,
            "cmdline": cmdline if kernel else None,
            "metadata": {
                "name": server.name,
                "project": server.project_id,
                "flavor": server.flavor_name,
            },
        }
        return self.ctx.domain_builder(spec)

    def devices(self, server: Server) -> Devices:
        """Every other service's devices for this server, from the store."""
        devices = Devices()
        for part in self.parts:
            devices.extend(part.devices(server))
        return devices

    def _release_parts(self, server_id: str) -> None:
        for part in reversed(self.parts):
            part.release(server_id)

    def _rollback_create(self, server_id: str, name: str, why: str) -> None:
        """Undo every step of a create; each undo is safe when its step never ran."""
        self._hv_of(server_id).undefine(server_id)
        self._release_parts(server_id)
        self._agent_of(server_id).remove_tree(str(self.instance_dir(server_id)))
        with self.ctx.store.write() as s:
            row = s.get(Server, server_id)
            if row is not None:
                s.delete(row)
            record_event(s, "server", server_id, name, f"create rolled back: {why[:200]}")
