"""Moving servers between nodes (Nova's migrate, live-migrate and evacuate).

Instance disks are on storage every compute node sees at the same path (the node probe
checks it), so a server keeps its disk, its console log and its ports: cold migration
moves the definition of a stopped server, live migration moves a running guest's memory,
and evacuation defines a server of a dead node again on another one.
The destination comes from the scheduler (or --node); the source is filtered out.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlmodel import Session

from labcloud.db.models import Server, utcnow
from labcloud.db.node_models import ServerPlacement
from labcloud.errors import Conflict, UsageError
from labcloud.services.access import admin_only
from labcloud.services.compute import ComputeService, Recovery
from labcloud.services.context import record_event
from labcloud.services.node_networks import plumb
from labcloud.services.nodes import LOCAL, NodeService
from labcloud.services.scheduler import Candidate, Demand, Ratios, schedule


class MigrationService:
    def __init__(self, compute: ComputeService, nodes: NodeService) -> None:
        self.compute = compute
        self.nodes = nodes
        self.ctx = compute.ctx
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
        was_active = server.status == "ACTIVE"
        if not live and was_active:
            server = self.compute.stop(server.id)  # cold: stopped, moved, started again
        kind = "live-migrated" if live else "migrated"
        self._move(server, dest, f"{kind} from {server.node}: {reason}", live)
        if not live and was_active:
            return self.compute.start(server.id)
        return self.compute.get(server.id)

    @admin_only
    def evacuate(self, ref: str, node: str | None = None) -> Server:
        """Start a dead node's server on another node, from the same disk."""
        server = self.compute.get(ref)
        source = self.nodes.get(server.node)
        if source.state != "down":
            raise Conflict(
                f"server {server.name}'s node {server.node} is {source.state}",
                "evacuate is for a node that is down; use `server migrate`",
            )
        dest, reason = self._destination(server, node)

        def allocate(s: Session) -> None:
            row = _row(s, server.id)
            row.task_state = "rebuilding"
            record_event(s, "server", row.id, row.name, f"evacuate from {server.node} to {dest}")

        with self.compute.journal.begin(
            "server.evacuate", server.id, allocate, name=server.name, dest=dest
        ) as op:
            try:
                op.step("define")
                plumb(self.nodes, server.id, dest)
                self._set_node(server.id, dest, f"evacuated from {server.node}: {reason}", None)
                self._refilter({})
                self.compute.redefine(server.id)
                op.step("start")
                self.ctx.hypervisor_for(dest).start(server.id)
            finally:
                with self.ctx.store.write() as s:
                    _row(s, server.id).task_state = None
                    op.finish(s)
        return self.compute.get(server.id)

    def _destination(self, server: Server, pinned: str | None) -> tuple[str, str]:
        if pinned == server.node:
            raise UsageError(f"server {server.name} is already on node {pinned}")
        candidates: list[Candidate] = []
        with self.ctx.store.read() as s:
            usage = self.nodes.usage(s)
        for c in self.nodes.candidates():
            _n, vcpus, ram, disk = usage.get(c.name, (0, 0, 0, 0))
            why = c.why_not
            if c.name == server.node:
                why = "the server's own node"
            elif not self._shared(c.name) or not self._shared(server.node):
                why = why or "no shared instance storage with the source"
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

    def _shared(self, node: str) -> bool:
        return node == LOCAL or self.nodes.get(node, refresh=False).shared_storage

    def _move(self, server: Server, dest: str, reason: str, live: bool) -> None:
        source = server.node

        def allocate(s: Session) -> None:
            row = _row(s, server.id)
            if row.task_state:
                raise Conflict(f"server {row.name} is busy ({row.task_state})")
            row.task_state = "migrating"
            record_event(s, "server", row.id, row.name, f"{reason.split(':')[0]} to {dest}")

        with self.compute.journal.begin(
            "server.migrate", server.id, allocate, name=server.name, source=source, dest=dest
        ) as op:
            ok = False
            try:
                op.step("plumb")
                plumb(self.nodes, server.id, dest)
                self._refilter({server.id: dest})
                op.step("migrate")
                self.nodes.transport.migrate(
                    self.ctx.hypervisor_for(source),
                    self.ctx.hypervisor_for(dest),
                    server.id,
                    self.nodes.address(dest),
                    live,
                )
                ok = True
            finally:
                # Where the domain is now decides the row, whatever happened.
                where = dest if ok or self._defined_on(dest, server.id) else source
                self._set_node(server.id, where, reason if where == dest else None, op)
                self._refilter({})

    def _defined_on(self, node: str, server_id: str) -> bool:
        try:
            return self.ctx.hypervisor_for(node).exists(server_id)
        except Exception:
            return False

    def _set_node(self, server_id: str, node: str, reason: str | None, op: object) -> None:
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
                op.finish(s)  # type: ignore[attr-defined]

    def recover(self) -> list[Recovery]:
        """An interrupted migration: the row follows wherever the domain is defined."""
        done: list[Recovery] = []
        for op in self.compute.journal.interrupted():
            if op.kind not in ("server.migrate", "server.evacuate"):
                continue
            with self.compute.journal.adopt(op) as handle:
                if handle is None:
                    continue
                detail = json.loads(op.detail)
                dest = str(detail.get("dest"))
                with self.ctx.store.read() as s:
                    row = s.get(Server, op.resource_id)
                if row is not None:
                    where = dest if self._defined_on(dest, row.id) else row.node
                    self._set_node(row.id, where, None, handle)
                else:
                    with self.ctx.store.write() as s:
                        handle.finish(s, "rolled_back")
                done.append(Recovery(op.kind, str(detail.get("name")), op.step, "finished"))
        return done


def _row(s: Session, server_id: str) -> Server:
    row = s.get(Server, server_id)
    if row is None:
        raise Conflict(f"server {server_id} was deleted meanwhile")
    return row
