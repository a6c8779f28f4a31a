"""Moving servers between nodes (Nova's migrate, live-migrate and evacuate).

Between nodes that see the same instance storage (the node probe checks it), a server
keeps its disk where it is: cold migration moves the definition of a stopped server,
live migration moves a running guest's memory, and evacuation defines a server of a dead
node again on another one. Between nodes that do not, the disks go with the server
(instance_files.py): cold, its instance directory is copied and verified, defined and
started on the destination, and removed from the source only then; live, libvirt's block
migration carries the root disk's top layer; evacuated, it is rebuilt from its image.
The server keeps its ports and IPs throughout.
The destination comes from the scheduler (or --node); the source is filtered out.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager

from sqlmodel import Session

from labcloud.db.models import Server, utcnow
from labcloud.db.node_models import ServerPlacement
from labcloud.errors import Conflict, LabError, UsageError
from labcloud.services.compute.instance_files import ROOT_DISK, ROOT_TARGET, InstanceFiles
from labcloud.services.compute.service import ComputeService, Recovery
from labcloud.services.core import CreateRequest, OperationHandle, admin_only, record_event
from labcloud.services.nodes import LOCAL, Candidate, Demand, NodeService, Ratios, plumb, schedule


class MigrationService:
    def __init__(self, compute: ComputeService, nodes: NodeService) -> None:
        self.compute = compute
        self.nodes = nodes
        self.ctx = compute.ctx
        self.files = InstanceFiles(compute, nodes)
        self.recovered_at_start: list[Recovery] = []
        # Reload the security groups: {server: destination} before a move (its ports are
        # filtered on both nodes meanwhile), {} once it is done (lab.py wires it).
        self.refilter: Callable[[dict[str, str]], None] | None = None

    def _refilter(self, moving: dict[str, str]) -> None:
        if self.refilter is not None:
            self.refilter(moving)

    @admin_only
    def migrate(self, ref: str, node: str | None = None, live: bool = False) -> Server:
        server = self.compute.get(ref)
        if server.task_state:
            raise Conflict(f"server {server.name} is busy ({server.task_state})")
        allowed = ("ACTIVE",) if live else ("ACTIVE", "SHUTOFF")
        if server.status not in allowed:
            kind = "live migration" if live else "migration"
            raise Conflict(
                f"cannot migrate server {server.name} while it is {server.status}",
                f"{kind} needs it {' or '.join(allowed)}"
                + ("; a server of a dead node is evacuated" if server.status == "UNKNOWN" else ""),
            )
        dest, reason = self._destination(server, node)
        copying = self.files.differ(server.node, dest)
        if copying:
            self.files.check_movable(server)
        was_active = server.status == "ACTIVE"
        if not live and was_active:
            server = self.compute.stop(server.id)  # cold: stopped, moved, started again
        kind = "live-migrated" if live else "migrated"
        if copying:
            kind += " with its disks"
        why = f"{kind} from {server.node}: {reason}"
        if copying and not live:
            self._copy_cold(server, dest, why, start=was_active)
            self.compute.sync([server.id], event=f"started on {dest}")
            return self.compute.get(server.id)
        self._move(server, dest, why, live, copying)
        if not live and was_active:
            return self.compute.start(server.id)
        return self.compute.get(server.id)

    @admin_only
    def evacuate(self, ref: str, node: str | None = None) -> Server:
        """Start a dead node's server on another node: from the same disk where the storage
        is shared, else rebuilt from its image (the disk was lost with the node)."""
        server = self.compute.get(ref)
        source = self.nodes.get(server.node)
        if source.state != "down":
            raise Conflict(
                f"server {server.name}'s node {server.node} is {source.state}",
                "evacuate is for a node that is down; use `server migrate`",
            )
        dest, reason = self._destination(server, node)
        rebuild = self.files.differ(server.node, dest)
        if rebuild:
            self.files.check_movable(server)

        def allocate(s: Session) -> None:
            row = _row(s, server.id)
            row.task_state = "rebuilding"
            how = ", rebuilt from its image (no shared storage)" if rebuild else ""
            record_event(
                s, "server", row.id, row.name, f"evacuate from {server.node} to {dest}{how}"
            )

        mode = "rebuild" if rebuild else "same-disk"
        with self.compute.journal.begin(
            "server.evacuate",
            server.id,
            allocate,
            name=server.name,
            source=server.node,
            dest=dest,
            mode=mode,
        ) as op:
            try:
                op.step("define", reached="define")
                plumb(self.nodes, server.id, dest)
                why = f"evacuated from {server.node}: {reason}"
                if rebuild:
                    op.step("rebuild", reached="rebuild")
                    self._place(server.id, dest)
                    image = self.files.rebuild(server, dest, _quiet)
                    moved = self.compute.get(server.id, sync=False)
                    for part in self.compute.parts:  # the seed ISO, the ports on dest
                        part.provision(moved, CreateRequest())
                    why = (
                        f"evacuated from {server.node}, rebuilt from image {image} (no shared "
                        f"storage: its disk was lost with the node): {reason}"
                    )
                self._set_node(server.id, dest, why, None)
                self._refilter({})
                self.compute.redefine(server.id)
                op.step("start", reached="start")
                self.compute.start_domain(server.id, dest)
            except BaseException:
                if rebuild and not self._defined_on(dest, server.id):
                    self._drop_copy(server.id, dest)
                    self._set_node(server.id, server.node, None, None)
                raise
            finally:
                with self.ctx.store.write() as s:
                    _row(s, server.id).task_state = None
                    op.finish(s)
        self.compute.sync([server.id], event=f"evacuated to {dest}")
        return self.compute.get(server.id)

    def _destination(self, server: Server, pinned: str | None) -> tuple[str, str]:
        if pinned == server.node:
            raise UsageError(f"server {server.name} is already on node {pinned}")
        candidates: list[Candidate] = []
        with self.ctx.store.read() as s:
            usage = self.nodes.usage(s)
        try:
            self.files.check_movable(server)
            movable = True
        except Conflict:
            movable = False  # its volumes stay on their storage: shared storage only
        for c in self.nodes.candidates():
            _n, vcpus, ram, disk = usage.get(c.name, (0, 0, 0, 0))
            why = c.why_not
            if c.name == server.node:
                why = "the server's own node"
            elif not movable and self.files.differ(c.name, server.node):
                why = why or "no shared storage for its volumes"
            elif c.name == LOCAL:
                why = why or "the local node takes no migrations (no address for the stream)"
            candidates.append(
                Candidate(
                    **{
                        **c.__dict__,
                        "vcpus_used": vcpus,
                        "ram_used_mb": ram,
                        "disk_used_gb": disk,
                        "why_not": why,
                    }
                )
            )
        cfg = self.ctx.config.scheduler
        ratios = Ratios(
            cfg.cpu_allocation_ratio, cfg.ram_allocation_ratio, cfg.disk_allocation_ratio
        )
        demand = Demand(server.vcpus, server.ram, server.disk, pinned=pinned)
        return schedule(candidates, demand, cfg.policy, ratios)

    def _begin(
        self, server: Server, dest: str, reason: str, mode: str
    ) -> AbstractContextManager[OperationHandle]:
        """The journalled operation of a move; `mode` tells recovery how to settle it."""

        def allocate(s: Session) -> None:
            row = _row(s, server.id)
            if row.task_state:
                raise Conflict(f"server {row.name} is busy ({row.task_state})")
            row.task_state = "migrating"
            record_event(s, "server", row.id, row.name, f"{reason.split(':')[0]} to {dest}")

        return self.compute.journal.begin(
            "server.migrate",
            server.id,
            allocate,
            name=server.name,
            source=server.node,
            dest=dest,
            mode=mode,
        )

    def _move(self, server: Server, dest: str, reason: str, live: bool, copying: bool) -> None:
        """libvirt moves the domain; with `copying` (live only), its root disk too."""
        source = server.node
        with self._begin(server, dest, reason, "live-copy" if copying else "move") as op:
            ok = False
            try:
                op.step("plumb", reached="plumb")
                plumb(self.nodes, server.id, dest)
                self._refilter({server.id: dest})
                if copying:
                    op.step("prepare", reached="prepare")
                    # The seed ISO and console log ahead (the log goes on growing there);
                    # an empty root disk on the same cached image for the block copy.
                    self.files.copy(server, source, dest, _quiet, skip=(ROOT_DISK,))
                    self.files.precreate_root(server, source, dest)
                op.step("migrate", reached="migrate")
                self.nodes.transport.migrate(
                    self.ctx.hypervisor_for(source),
                    self.ctx.hypervisor_for(dest),
                    server.id,
                    self.nodes.address(dest),
                    live,
                    [ROOT_TARGET] if copying else None,
                )
                ok = True
            finally:
                # Where the domain is now decides the row, whatever happened.
                where = dest if ok or self._defined_on(dest, server.id) else source
                if copying:
                    op.step("cleanup", reached="cleanup")
                    self._drop_copy(server.id, source if where == dest else dest)
                self._set_node(server.id, where, reason if where == dest else None, op)
                self._refilter({})

    def _copy_cold(self, server: Server, dest: str, reason: str, start: bool) -> None:
        """A stopped server's files to a node with other storage: copied and verified,
        defined and (if it ran) started there; the source is cleared only after that.
        Any failure before puts everything back on the source."""
        source = server.node
        with self._begin(server, dest, reason, "copy") as op:
            try:
                op.step("plumb", reached="plumb")
                plumb(self.nodes, server.id, dest)
                op.step("copy", reached="copy")
                self.files.copy(server, source, dest, _quiet)
                op.step("define", reached="define")
                self._place(server.id, dest)
                self.compute.redefine(server.id)
                if start:
                    op.step("start", reached="start")
                    self.compute.start_domain(server.id, dest)
                    self.ctx.hypervisor_for(dest).wait_for(server.id, {"running"}, 60)
            except BaseException:
                self._undo_copy(server.id, source, dest, op)
                raise
            op.step("cleanup", reached="cleanup")
            self._drop_copy(server.id, source)
            self._set_node(server.id, dest, reason, op)

    def _place(self, server_id: str, node: str) -> None:
        """The row names the node its domain is about to be defined on."""
        with self.ctx.store.write() as s:
            row = _row(s, server_id)
            row.node, row.updated_at = node, utcnow()

    def _undo_copy(
        self, server_id: str, source: str, dest: str, op: OperationHandle | None
    ) -> None:
        """Back to the source: no domain and no files of the server left on dest."""
        try:
            hv = self.ctx.hypervisor_for(dest)
            hv.destroy(server_id)
            hv.undefine(server_id)
        except LabError:
            pass  # an unreachable dest is settled by `doctor` later; the source is whole
        self._drop_copy(server_id, dest)
        self._set_node(server_id, source, None, op)
        with self.ctx.store.write() as s:
            row = s.get(Server, server_id)
            if row is not None:
                note = f"migration to {dest} rolled back: still on {source}"
                record_event(s, "server", server_id, row.name, note)

    def _drop_copy(self, server_id: str, node: str) -> None:
        """The server's domain and files on a node it no longer runs on."""
        try:
            hv = self.ctx.hypervisor_for(node)
            if hv.exists(server_id):
                hv.undefine(server_id)
            self.files.remove(server_id, node)
        except LabError as exc:
            with self.ctx.store.write() as s:
                row = s.get(Server, server_id)
                name = row.name if row is not None else server_id
                record_event(s, "server", server_id, name, f"left files on {node}: {exc}")

    def _defined_on(self, node: str, server_id: str) -> bool:
        try:
            return self.ctx.hypervisor_for(node).exists(server_id)
        except Exception:
            return False

    def _set_node(
        self, server_id: str, node: str, reason: str | None, op: OperationHandle | None
    ) -> None:
        with self.ctx.store.write() as s:
            row = _row(s, server_id)
            row.node, row.task_state, row.updated_at = node, None, utcnow()
            if reason is not None:
                placement = s.get(ServerPlacement, server_id)
                if placement is None:
                    s.add(ServerPlacement(server_id=server_id, node=node, reason=reason))
                else:
                    placement.node, placement.reason = node, reason
                record_event(s, "server", row.id, row.name, f"now on node {node}")
            if op is not None:
                op.finish(s)

    def recover(self) -> list[Recovery]:
        """An interrupted migration or evacuation, settled by where its domain is defined:
        forward to the destination (the source's copy dropped) or back to the source (the
        destination's copy dropped). A cold copy goes forward only from its cleanup step,
        as the source is whole until then."""
        done: list[Recovery] = []
        for op in self.compute.journal.interrupted():
            if op.kind not in ("server.migrate", "server.evacuate"):
                continue
            with self.compute.journal.adopt(op) as handle:
                if handle is None:
                    continue
                detail = json.loads(op.detail)
                with self.ctx.store.read() as s:
                    row = s.get(Server, op.resource_id)
                if row is None:
                    with self.ctx.store.write() as s:
                        handle.finish(s, "rolled_back")
                    done.append(Recovery(op.kind, str(detail.get("name")), op.step, "finished"))
                    continue
                outcome = self._settle(row, detail, op.step, handle)
                done.append(Recovery(op.kind, str(detail.get("name")), op.step, outcome))
        return done

    def _settle(
        self, row: Server, detail: dict[str, object], step: str, handle: OperationHandle
    ) -> str:
        dest = str(detail.get("dest"))
        source = str(detail.get("source") or row.node)
        mode = detail.get("mode", "move")
        on_dest = self._defined_on(dest, row.id)
        if mode == "copy":
            if step != "cleanup":
                self._undo_copy(row.id, source, dest, handle)
                return "rolled back"
            self._drop_copy(row.id, source)
            self._set_node(row.id, dest, None, handle)
            return "finished"
        if mode == "live-copy" or (mode == "rebuild" and not on_dest):
            self._drop_copy(row.id, source if on_dest else dest)  # never the dead node
        self._set_node(row.id, dest if on_dest else source, None, handle)
        return "finished" if on_dest else "rolled back"


def _quiet(_step: str) -> None:
    pass


def _row(s: Session, server_id: str) -> Server:
    row = s.get(Server, server_id)
    if row is None:
        raise Conflict(f"server {server_id} was deleted meanwhile")
    return row
