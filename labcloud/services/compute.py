"""Compute (Nova): servers and their lifecycle on libvirt.

Create and delete are journalled step by step; `recover()` finishes or rolls back
whatever a killed process left. `sync()` folds libvirt's view into the store, so
drift shows as a status, never as a crash.
"""

from __future__ import annotations

import builtins
import json
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from labcloud.db.models import Flavor, Image, Operation, Server, utcnow
from labcloud.errors import Conflict, LabError, NotFound, Timeout, Unavailable, UsageError
from labcloud.names import check_name, new_uuid
from labcloud.services.core import (
    CreateRequest,
    Devices,
    DomainStateView,
    Hypervisor,
    Journal,
    NodeAgent,
    OperationHandle,
    SerialConsole,
    ServerPart,
    ServiceContext,
    charge,
    find,
    record_event,
    writes,
)

GIB = 1024**3
DOMAIN_PREFIX = "labcloud-"

# Nova's statuses, and the ones each action may start from.
STATUSES = ("BUILD", "ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED", "ERROR", "DELETED", "UNKNOWN")
_ALLOWED_FROM: dict[str, tuple[str, ...]] = {
    "start": ("SHUTOFF",),
    "stop": ("ACTIVE", "PAUSED", "ERROR"),
    "reboot": ("ACTIVE", "SHUTOFF", "ERROR"),
    "pause": ("ACTIVE",),
    "unpause": ("PAUSED",),
    "suspend": ("ACTIVE", "PAUSED"),
    "resume": ("SUSPENDED",),
}
# libvirt's state -> (Nova status, Nova power state)
_FROM_LIBVIRT: dict[str, tuple[str, str]] = {
    "running": ("ACTIVE", "RUNNING"),
    "paused": ("PAUSED", "PAUSED"),
    "shutoff": ("SHUTOFF", "SHUTDOWN"),
    "crashed": ("ERROR", "CRASHED"),
    "pmsuspended": ("SUSPENDED", "SUSPENDED"),
    "nostate": ("ERROR", "NOSTATE"),
}


@dataclass(frozen=True)
class Recovery:
    operation: str
    server: str
    step: str
    outcome: str  # finished | rolled back


class ComputeService:
    noun = "server"

    def __init__(
        self, ctx: ServiceContext, images_dir: Path, parts: list[ServerPart] | None = None
    ) -> None:
        self.ctx = ctx
        self.images_dir = images_dir
        # NICs, volumes and the cloud-init seed come from other services (server_parts.py).
        self.parts: list[ServerPart] = list(parts or [])
        self.journal = Journal(ctx.store, ctx.state_dir / "locks")
        self.recovered_at_start: list[Recovery] = []
        # Told when a node stops answering (the node service marks it down).
        self.node_down_listeners: list[Callable[[str, str], None]] = []

    # -- nodes ----------------------------------------------------------------------
    def hypervisor_on(self, node: str) -> Hypervisor:
        return self.ctx.hypervisor_for(node)

    def _hv_of(self, server_id: str) -> Hypervisor:
        return self.hypervisor_on(self._node_of(server_id))

    def _agent(self, node: str) -> NodeAgent:
        return self.ctx.agent_for(node)

    def _agent_of(self, server_id: str) -> NodeAgent:
        return self._agent(self._node_of(server_id))

    def _node_of(self, server_id: str) -> str:
        with self.ctx.store.read() as s:
            row = s.get(Server, server_id)
        return row.node if row is not None else "local"

    def _stage_images(
        self,
        node: str,
        request: CreateRequest,
        image: Image,
        kernel: Image | None,
        ramdisk: Image | None,
        report: Callable[[str], None],
    ) -> None:
        """A node without the state_dir gets the images it boots from (checksum-verified,
        then cached there)."""
        wanted = [kernel, ramdisk] + ([] if request.boots_from_volume else [image])
        files = [(str(self.images_dir / i.checksum), i.checksum) for i in wanted if i]
        self.ctx.stage_for(node, files, report)

    def _node_states(self, nodes: set[str]) -> tuple[dict[str, DomainStateView], dict[str, str]]:
        """Every domain's state on these nodes, one round trip per node, all at once;
        and the nodes that did not answer, with why."""
        if nodes <= {"local"}:
            return dict(self.ctx.hypervisor.domain_states()), {}

        def one(node: str) -> dict[str, DomainStateView] | str:
            try:
                return dict(self.hypervisor_on(node).domain_states())
            except LabError as exc:
                if node == "local":
                    raise
                return f"node {node} is not answering: {exc.message}"

        states: dict[str, DomainStateView] = {}
        down: dict[str, str] = {}
        names = sorted(nodes)
        with ThreadPoolExecutor(max_workers=min(16, len(names))) as pool:
            for node, result in zip(names, pool.map(one, names), strict=True):
                if isinstance(result, str):
                    down[node] = result
                    for listener in self.node_down_listeners:
                        listener(node, result)
                else:
                    states.update(result)
        return states, down

    # -- paths ----------------------------------------------------------------------
    def instance_dir(self, server_id: str) -> Path:
        return self.ctx.state_dir / "instances" / server_id

    def console_path(self, server_id: str) -> Path:
        return self.instance_dir(server_id) / "console.log"

    # -- queries --------------------------------------------------------------------
    def list(self, sync: bool = True) -> list[Server]:
        if sync:
            self.sync()
        with self.ctx.store.read() as s:
            query = select(Server).where(self.ctx.scope(Server))
            return list(s.exec(query.order_by(col(Server.created_at), col(Server.name))))

    def get(self, ref: str, sync: bool = True) -> Server:
        with self.ctx.store.read() as s:
            server = self._find(s, ref)
        if sync:
            self.sync([server.id])
            with self.ctx.store.read() as s:
                server = s.get(Server, server.id) or server
        return server

    def _find(self, s: Session, ref: str) -> Server:
        return find(s, Server, ref, "server", project_id=self.ctx.project.id)

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
                    _check_deadline(deadline, timeout, "creating the root disk")
                    op.step("plug")
                    for part in self.parts:
                        report(f"preparing {type(part).__name__}")
                        part.provision(server, request)
                    _check_deadline(deadline, timeout, "preparing devices")
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

    # -- delete ---------------------------------------------------------------------
    @writes
    def delete(self, ref: str) -> Server:
        with self.ctx.store.read() as s:
            server = self._find(s, ref)
        if self._busy(server.id):
            raise Conflict(
                f"server {server.name} has an operation in progress",
                "wait for it to finish, or run `labcloud doctor --repair`",
            )

        def allocate(s: Session) -> None:
            row = s.get(Server, server.id)
            if row is None:
                raise NotFound(f"server {server.name} was deleted meanwhile")
            row.task_state = "deleting"
            row.updated_at = utcnow()
            record_event(s, "server", server.id, server.name, "delete requested")

        with self.journal.begin("server.delete", server.id, allocate, name=server.name) as op:
            self._delete_steps(op, server.id, server.name)
        server.status = "DELETED"
        return server

    def _delete_steps(self, op: OperationHandle, server_id: str, name: str) -> None:
        hv = self._hv_of(server_id)
        op.step("destroy")
        hv.destroy(server_id)
        op.step("undefine")
        hv.undefine(server_id)
        op.step("unplug")
        self._release_parts(server_id)
        op.step("remove-disk")
        self._agent_of(server_id).remove_tree(str(self.instance_dir(server_id)))
        op.step("finish")
        with self.ctx.store.write() as s:
            row = s.get(Server, server_id)
            if row is not None:
                s.delete(row)
            record_event(s, "server", server_id, name, "DELETED")
            op.finish(s)

    def _busy(self, server_id: str) -> bool:
        with self.ctx.store.read() as s:
            return (
                s.exec(
                    select(Operation.id).where(
                        Operation.resource_id == server_id, Operation.state == "running"
                    )
                ).first()
                is not None
            )

    # -- lifecycle ------------------------------------------------------------------
    @writes
    def start(self, ref: str, timeout: float = 60.0) -> Server:
        server = self._ready_for("start", ref)
        self.start_domain(server.id, server.node)
        self.hypervisor_on(server.node).wait_for(server.id, {"running"}, timeout)
        return self.settle(server.id, "started")

    def start_domain(self, server_id: str, node: str = "local") -> None:
        """Start the domain, then let parts fix what libvirt resets on start (libvirt brings
        every tap up; a disabled port's tap must stay down)."""
        self.hypervisor_on(node).start(server_id)
        for part in self.parts:
            started = getattr(part, "started", None)
            if started is not None:
                started(server_id)

    @writes
    def stop(self, ref: str, timeout: float | None = None) -> Server:
        """Graceful ACPI shutdown; powered off when the guest has not stopped in time."""
        server = self._ready_for("stop", ref)
        self.shutdown_domain(server.id, timeout, server.node)
        return self.settle(server.id, "stopped")

    def shutdown_domain(self, server_id: str, timeout: float | None, node: str) -> None:
        hv = self.hypervisor_on(node)
        state = hv.state(server_id)
        if state is None or state.state == "shutoff":
            return
        grace = self.ctx.config.site.shutdown_timeout if timeout is None else timeout
        if state.state == "running" and grace > 0:
            hv.shutdown(server_id)
            try:
                hv.wait_for(server_id, {"shutoff", "missing"}, grace)
                return
            except Timeout:
                pass  # as Nova does: a guest that ignores ACPI is powered off
        hv.destroy(server_id)
        hv.wait_for(server_id, {"shutoff", "missing"}, 30)

    @writes
    def reboot(self, ref: str, hard: bool = False, timeout: float | None = None) -> Server:
        """Soft: a clean shutdown then start. Hard: power off then start."""
        server = self._ready_for("reboot", ref)
        self.shutdown_domain(server.id, 0 if hard else timeout, server.node)
        self.start_domain(server.id, server.node)
        self.hypervisor_on(server.node).wait_for(server.id, {"running"}, 60)
        return self.settle(server.id, "hard rebooted" if hard else "rebooted")

    @writes
    def pause(self, ref: str) -> Server:
        server = self._ready_for("pause", ref)
        self.hypervisor_on(server.node).pause(server.id)
        return self.settle(server.id, "paused")

    @writes
    def unpause(self, ref: str) -> Server:
        server = self._ready_for("unpause", ref)
        self.hypervisor_on(server.node).unpause(server.id)
        return self.settle(server.id, "unpaused")

    @writes
    def suspend(self, ref: str) -> Server:
        """Nova's suspend: the guest's memory is saved to disk and the domain stops."""
        server = self._ready_for("suspend", ref)
        self.hypervisor_on(server.node).managed_save(server.id)
        return self.settle(server.id, "suspended")

    @writes
    def resume(self, ref: str, timeout: float = 60.0) -> Server:
        server = self._ready_for("resume", ref)
        self.start_domain(server.id, server.node)  # restores the managed-save image
        self.hypervisor_on(server.node).wait_for(server.id, {"running"}, timeout)
        return self.settle(server.id, "resumed")

    def _ready_for(self, action: str, ref: str) -> Server:
        server = self.get(ref)
        if server.task_state:
            raise Conflict(
                f"server {server.name} is busy ({server.task_state})", "wait for it to finish"
            )
        if server.status == "UNKNOWN":  # its node did not answer just now: fail fast
            raise Unavailable(
                f"cannot {action} server {server.name}: {server.fault}",
                f"`labcloud node show {server.node}` says when it answered last",
            )
        allowed = _ALLOWED_FROM[action]
        if server.status not in allowed:
            raise Conflict(
                f"cannot {action} server {server.name} while it is {server.status}",
                f"{action} needs it {' or '.join(allowed)}",
            )
        return server

    def settle(self, server_id: str, what: str) -> Server:
        self.sync([server_id], event=what)
        with self.ctx.store.read() as s:
            row = s.get(Server, server_id)
        if row is None:
            raise NotFound(f"server {server_id} vanished")
        return row

    @writes
    def resize(self, ref: str, flavor_ref: str, timeout: float | None = None) -> Server:
        """Another flavor, cold: see server_resize.py."""
        from labcloud.services.server_resize import resize

        return resize(self, ref, flavor_ref, timeout)

    # -- console --------------------------------------------------------------------
    def open_console(self, ref: str) -> SerialConsole:
        """The interactive serial console of a running server (close it when done)."""
        server = self.get(ref)
        if server.power_state not in ("RUNNING", "PAUSED"):
            raise Conflict(
                f"server {server.name} is {server.status}: its console is not live",
                f"start it first: `labcloud server start {server.name}`",
            )
        return self.hypervisor_on(server.node).open_console(server.id)

    def console_log(self, ref: str, lines: int = 0) -> str:
        server = self.get(ref, sync=False)
        return self._agent(server.node).tail(str(self.console_path(server.id)), lines)

    def wait_console(self, ref: str, pattern: str, timeout: float) -> str:
        """Wait until the console log has a line matching `pattern`; returns that line."""
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise UsageError(f"invalid pattern {pattern!r}: {exc}") from None
        server = self.get(ref, sync=False)
        path = str(self.console_path(server.id))
        deadline = time.monotonic() + timeout
        while True:
            for line in self._agent(server.node).tail(path, 0).splitlines():
                if regex.search(line):
                    return line
            if time.monotonic() > deadline:
                raise Timeout(
                    f"{server.name}'s console showed no line matching {pattern!r} in {timeout:g} s",
                    "see `labcloud console log`",
                )
            time.sleep(0.25)

    # -- drift ----------------------------------------------------------------------
    def sync(self, server_ids: builtins.list[str] | None = None, event: str | None = None) -> int:
        """Fold libvirt's view into the store, in one round trip. Returns rows changed.

        Drift is looked for in a read transaction; the write lock is taken only when some
        row really changed, so concurrent `server list` calls do not queue on each other.
        """
        query = select(Server).where(Server.task_state.is_(None))  # type: ignore[union-attr]
        if server_ids is not None:
            query = query.where(Server.id.in_(server_ids))  # type: ignore[attr-defined]
        with self.ctx.store.read() as s:
            nodes = {row.node for row in s.exec(query)}
        states, down = self._node_states(nodes)
        with self.ctx.store.read() as s:
            drifted = [row.id for row in s.exec(query) if _drift(row, states, down)]
        if not drifted:
            return 0
        changed = 0
        with self.ctx.store.write() as s:
            # Re-checked under the lock: another process may have settled them meanwhile.
            for row in s.exec(query.where(Server.id.in_(drifted))):  # type: ignore[attr-defined]
                wanted = _drift(row, states, down)
                if wanted is None:
                    continue
                status, power, fault = wanted
                note = event or _drift_cause(row, down)
                record_event(s, "server", row.id, row.name, f"{row.status} -> {status} ({note})")
                row.status, row.power_state, row.fault = status, power, fault
                row.updated_at = utcnow()
                changed += 1
        return changed

    # -- crash recovery -------------------------------------------------------------
    def recover(self) -> builtins.list[Recovery]:
        """Finish or roll back operations whose process died. Safe to run any time."""
        done: list[Recovery] = []
        for op in self.journal.interrupted():
            if op.kind not in ("server.create", "server.delete"):
                continue  # adopting another's op would drop the step its lock file holds
            with self.journal.adopt(op) as handle:
                if handle is None:
                    continue
                name = json.loads(op.detail).get("name", op.resource_id)
                if op.kind == "server.create":
                    state = self._hv_of(op.resource_id).state(op.resource_id)
                    if op.step == "finish" and state is not None and state.state == "running":
                        self._finish_create(
                            handle, op.resource_id, name, "ACTIVE (create finished after a crash)"
                        )
                        outcome = "finished"
                    else:
                        self._rollback_create(
                            op.resource_id, name, f"interrupted at step {op.step}"
                        )
                        with self.ctx.store.write() as s:
                            handle.finish(s, "rolled_back")
                        outcome = "rolled back"
                elif op.kind == "server.delete":
                    self._delete_steps(handle, op.resource_id, name)
                    outcome = "finished"
                else:
                    continue
                done.append(Recovery(op.kind, name, op.step, outcome))
        return done


def _drift_cause(row: Server, down: dict[str, str] | None) -> str:
    """Why a row drifted, in the same words whichever process notices it first."""
    if down and row.node in down:
        return f"node {row.node} down"
    if row.status == "UNKNOWN":  # its node answers again
        return f"node {row.node} up"
    return "changed outside labcloud"


def _drift(
    row: Server, states: dict[str, DomainStateView], down: dict[str, str] | None = None
) -> tuple[str, str, str] | None:
    """The (status, power state, fault) libvirt implies for a row, when it differs.
    A server on a node that does not answer is UNKNOWN, as in Nova."""
    if row.status == "BUILD":
        return None
    dom = states.get(row.id)
    if down and row.node in down:
        wanted = ("UNKNOWN", "NOSTATE", down[row.node])
    elif dom is None:
        wanted = ("ERROR", "NOSTATE", "its libvirt domain is missing")
    else:
        status, power = _FROM_LIBVIRT.get(dom.state, ("ERROR", "NOSTATE"))
        if dom.state == "shutoff" and (dom.saved or row.status == "SUSPENDED"):
            status, power = "SUSPENDED", "SUSPENDED"
        wanted = (status, power, "the guest crashed" if dom.state == "crashed" else "")
    return None if (row.status, row.power_state, row.fault) == wanted else wanted


def _check_deadline(deadline: float, timeout: float, what: str) -> None:
    if time.monotonic() > deadline:
        raise Timeout(f"timed out after {timeout:g} s while {what}", "raise --timeout")


__all__ = ["STATUSES", "ComputeService", "LabError", "Recovery"]
