"""A server's snapshot (Nova's createImage): a new self-contained image from its root
disk, taken while the guest is paused. A part of ImageService (service.py)."""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from labcloud.db.models import Image, Server
from labcloud.errors import Conflict
from labcloud.names import check_name, new_uuid
from labcloud.services.core import (
    OperationHandle,
    ServiceContext,
    writes,
)
from labcloud.services.images import formats as image_formats

# What a snapshot keeps of its server's image (how to boot it, how to tell it is up).
INHERITED_PROPERTIES = ("os_command_line", "ready_pattern", "builtin", "os_distro", "os_type")
Progress = Callable[[int, int], None]


class ServerSnapshots:
    if TYPE_CHECKING:
        # Given by ImageService (service.py), which this class is a part of.
        ctx: ServiceContext
        fetch_from_node: Callable[[str, str, int, str], None] | None

        @property
        def store_dir(self) -> Path: ...

        def _refuse_existing(self, names: builtins.list[str]) -> None: ...

        def _saving(
            self,
            image: Image,
            kind: str,
            write: Callable[[OperationHandle, str], tuple[str, int]],
            note: str,
            claim: Callable[[Session], None] | None = None,
            **detail: object,
        ) -> Image: ...

    # -- snapshot of a server -------------------------------------------------------
    @writes
    def snapshot(
        self, compute: Any, server_ref: str, name: str, progress: Progress | None = None
    ) -> Image:
        """A new self-contained image from a server's root disk, running or stopped.

        A running guest is paused for the copy: QEMU drains and flushes its block layer
        when it pauses, so the overlay on disk is consistent while `qemu-img convert -U`
        flattens it (with its base) into one qcow2. It is resumed whatever happens.

        A server booted from a volume is snapshotted as Nova does it for a user: the
        image holds the root volume's content (its file, or its LV's block device).
        """
        check_name(name, "image name")
        self._refuse_existing([name])
        server = compute.get(server_ref)
        if server.task_state:
            raise Conflict(f"server {server.name} is busy ({server.task_state})")
        if server.status not in ("ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED"):
            raise Conflict(f"cannot snapshot server {server.name} while it is {server.status}")
        disk, disk_format = _root_disk(compute, server)
        # A node without shared storage holds the disk itself: the copy is made there by
        # the node's host agent, then fetched into the store here (checksum verified).
        on_node = server.node != "local" and not self.ctx.agent.exists(disk)
        disk_agent = self.ctx.agent_for(server.node) if on_node else self.ctx.agent
        with self.ctx.store.read() as s:
            base = s.get(Image, server.image_id) if server.image_id else None
        base_props = json.loads(base.properties or "{}") if base else {}
        props = {k: base_props[k] for k in INHERITED_PROPERTIES if k in base_props}
        props.update(
            {
                "image_type": "snapshot",
                "instance_uuid": server.id,
                "base_image_ref": base.id if base else "",
            }
        )
        boots_kernel = base is not None and base.kernel_id is not None
        fmt = "ami" if boots_kernel and base and base.disk_format == "ami" else "qcow2"
        image = Image(
            id=new_uuid(),
            name=name,
            status="saving",
            project_id=self.ctx.project.id,
            disk_format=fmt,
            container_format="ami" if fmt == "ami" else "bare",
            file_format="qcow2",
            virtual_size=server.disk * 1024**3,
            kernel_id=base.kernel_id if boots_kernel and base else None,
            ramdisk_id=base.ramdisk_id if boots_kernel and base else None,
            min_disk=server.disk,
            min_ram=base.min_ram if base else 0,
            properties=json.dumps(props, sort_keys=True),
        )
        hv = self.ctx.hypervisor_for(server.node)

        claimed: list[bool] = []

        def claim(s: Session) -> None:
            row = s.get(Server, server.id)
            if row is None or row.task_state:
                raise Conflict(f"server {server.name} is busy or gone", "try again")
            row.task_state = "image_snapshot"  # as Nova: no lifecycle action meanwhile
            claimed.append(True)

        def write(op: OperationHandle, tmp: str) -> tuple[str, int]:
            state = hv.state(server.id)
            pause = state is not None and state.state == "running"
            if pause:
                op.step("copy")  # recovery resumes a guest paused here
                hv.pause(server.id)
            try:
                digest, size = disk_agent.snapshot_disk(
                    disk, str(self.store_dir), tmp, None if on_node else progress, disk_format
                )
            finally:
                if pause:
                    hv.unpause(server.id)
                    op.step("check")
            if on_node:
                there = str(self.store_dir / tmp)
                assert self.fetch_from_node is not None, "lab.py wires it with the nodes"
                try:
                    self.fetch_from_node(server.node, there, size, digest)
                finally:
                    disk_agent.remove_file(there)
            facts = self.ctx.agent.inspect_image(str(self.store_dir / tmp))
            found = image_formats.detect(facts, f"the snapshot of {server.name}")
            image.virtual_size = found.virtual_size
            # A boot volume may be larger than the flavor's disk: a server needs that much.
            image.min_disk = max(image.min_disk, -(-found.virtual_size // 1024**3))
            with self.ctx.store.write() as s:
                row = s.get(Image, image.id)
                if row is not None:
                    row.virtual_size, row.min_disk = found.virtual_size, image.min_disk
            return digest, size

        try:
            return self._saving(
                image,
                "image.snapshot",
                write,
                f"snapshot of server {server.name}",
                claim,
                server_id=server.id,
            )
        finally:
            if claimed:
                self._release_server(server.id, False)

    def _release_server(self, server_id: str, resume: bool) -> None:
        """Clear a snapshot's busy mark; after a crash mid-copy, resume the paused guest."""
        if resume:
            hv = self.ctx.server_hypervisor(server_id)
            state = hv.state(server_id)
            if state is not None and state.state == "paused":
                hv.unpause(server_id)
        with self.ctx.store.write() as s:
            row = s.get(Server, server_id)
            if row is not None and row.task_state == "image_snapshot":
                row.task_state = None


def _root_disk(compute: Any, server: Server) -> tuple[str, str]:
    """(path, format) of what a server boots from: its overlay, or its boot volume."""
    devices = compute.devices(server)
    if not devices.root:
        return str(compute.instance_dir(server.id) / "disk"), "qcow2"
    for disk in devices.disks:
        if disk.get("boot_order") == 1 and disk.get("device", "disk") == "disk":
            return str(disk["path"]), str(disk.get("file_format") or "raw")
    raise Conflict(f"server {server.name} has no root disk to snapshot")
