"""A server's instance directory (root disk, seed ISO, console log) between two nodes that
do not share storage: copied and verified, a root disk pre-created for a live block
migration, rebuilt from the image for an evacuation, or removed from the node it left.

Only servers whose every disk is in their instance directory (or is a cached image) can
move without shared storage: a volume stays where its storage node keeps it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from labcloud.db.models import Image, Server
from labcloud.errors import BackendError, Conflict, NotFound
from labcloud.services.compute.models import GIB
from labcloud.services.compute.service import ComputeService
from labcloud.services.nodes import NodeService

ROOT_DISK = "disk"
ROOT_TARGET = "vda"


class InstanceFiles:
    def __init__(self, compute: ComputeService, nodes: NodeService) -> None:
        self.compute = compute
        self.nodes = nodes
        self.ctx = compute.ctx

    def differ(self, source: str, dest: str) -> bool:
        """True when the two nodes keep instance files in different places."""
        return self.nodes.storage(source) != self.nodes.storage(dest)

    def _dir(self, server_id: str) -> str:
        return str(self.compute.instance_dir(server_id))

    def check_movable(self, server: Server) -> None:
        """Refuse a server with disks outside its instance directory (volumes)."""
        inside = self.compute.instance_dir(server.id)
        devices = self.compute.devices(server)
        if devices.root:
            raise Conflict(
                f"server {server.name} boots from a volume; it moves only between nodes "
                "that share storage",
                "pick a node with shared storage (--node)",
            )
        for disk in devices.disks:
            if Path(str(disk["path"])).parent != inside:
                raise Conflict(
                    f"server {server.name} has a volume ({disk['target']}); it moves only "
                    "between nodes that share storage",
                    "detach its volumes first, or pick a node with shared storage (--node)",
                )

    def _images(self, server: Server) -> tuple[Image, list[tuple[str, str]]]:
        """The server's image and the cached files it needs on a node: (path, sha256)."""
        with self.ctx.store.read() as s:
            image = s.get(Image, server.image_id) if server.image_id else None
            if image is None:
                raise NotFound(f"server {server.name}'s image is gone; its disk cannot move")
            wanted = [image]
            for ref in (image.kernel_id, image.ramdisk_id):
                extra = s.get(Image, ref) if ref else None
                if extra is not None:
                    wanted.append(extra)
        files = [(str(self.compute.images_dir / i.checksum), i.checksum) for i in wanted]
        return image, files

    def _prepare(self, server: Server, dest: str, report: Callable[[str], None]) -> Image:
        """The instance directory on dest, and the cached images under its disk."""
        image, files = self._images(server)
        self.ctx.stage_for(dest, files, report)
        self.ctx.agent_for(dest).make_dir(self._dir(server.id))
        return image

    def copy(
        self,
        server: Server,
        source: str,
        dest: str,
        report: Callable[[str], None],
        skip: tuple[str, ...] = (),
    ) -> list[dict[str, object]]:
        """Copy every file of the instance directory but `skip` from source to dest, then
        check each one's size and sha256 on dest. Returns what was copied."""
        self._prepare(server, dest, report)
        listing = self.ctx.agent_for(source).digest_files(self._dir(server.id))
        files = [
            {**f, "path": str(Path(self._dir(server.id)) / str(f["name"]))}
            for f in listing
            if f["name"] not in skip
        ]
        self.nodes.copy_files(source, dest, files, report)
        landed = {f["name"]: f for f in self.ctx.agent_for(dest).digest_files(self._dir(server.id))}
        for f in files:
            got = landed.get(f["name"])
            if got is None or (got["size"], got["sha256"]) != (f["size"], f["sha256"]):
                raise BackendError(f"{f['name']} did not arrive whole on {dest}")
        return files

    def precreate_root(self, server: Server, source: str, dest: str) -> None:
        """The root disk's empty twin on dest (same backing image, same size): what a live
        block migration copies the source's top layer into."""
        disk = str(Path(self._dir(server.id)) / ROOT_DISK)
        info = self.ctx.agent_for(source).image_info(disk, True)  # the guest runs
        size = int(info["virtual-size"])  # type: ignore[call-overload]
        backing = info.get("full-backing-filename") or info.get("backing-filename")
        agent = self.ctx.agent_for(dest)
        if backing:
            fmt = str(info.get("backing-filename-format") or "raw")
            agent.create_overlay(str(backing), fmt, disk, size)
        else:
            agent.create_blank(disk, str(info.get("format") or "qcow2"), size)

    def rebuild(self, server: Server, dest: str, report: Callable[[str], None]) -> str:
        """A fresh root disk from the server's image on dest (Nova's evacuate without
        shared storage). Returns the image's name."""
        image = self._prepare(server, dest, report)
        disk = str(Path(self._dir(server.id)) / ROOT_DISK)
        agent = self.ctx.agent_for(dest)
        agent.remove_file(disk)
        if image.disk_format == "iso":
            agent.create_blank(disk, "qcow2", server.disk * GIB)
        else:
            size = max(server.disk * GIB, image.virtual_size)
            backing = str(self.compute.images_dir / image.checksum)
            agent.create_overlay(backing, image.file_format, disk, size)
        return image.name

    def remove(self, server_id: str, node: str) -> None:
        """Forget the instance directory on a node (idempotent)."""
        self.ctx.agent_for(node).remove_tree(self._dir(server_id))
