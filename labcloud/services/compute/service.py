"""Compute (Nova): servers and their lifecycle on libvirt.

Create and delete are journalled step by step; `recover()` finishes or rolls back
whatever a killed process left. `sync()` folds libvirt's view into the store, so
drift shows as a status, never as a crash.
"""

from __future__ import annotations

import builtins
import json

from sqlmodel import Session, select

from labcloud.db.models import Operation, Server, utcnow
from labcloud.errors import Conflict, NotFound
from labcloud.services.compute import resize as resizing
from labcloud.services.compute.create import CreateOps
from labcloud.services.compute.lifecycle import LifecycleOps
from labcloud.services.compute.models import (
    Recovery,
    drift,
    drift_cause,
)
from labcloud.services.core import (
    OperationHandle,
    record_event,
    writes,
)


class ComputeService(CreateOps, LifecycleOps):
    """Nova's server API, one concept per module; this class joins them."""

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

    @writes
    def resize(self, ref: str, flavor_ref: str, timeout: float | None = None) -> Server:
        """Another flavor, cold: see resize.py."""
        return resizing.resize(self, ref, flavor_ref, timeout)

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
            drifted = [row.id for row in s.exec(query) if drift(row, states, down)]
        if not drifted:
            return 0
        changed = 0
        with self.ctx.store.write() as s:
            # Re-checked under the lock: another process may have settled them meanwhile.
            for row in s.exec(query.where(Server.id.in_(drifted))):  # type: ignore[attr-defined]
                wanted = drift(row, states, down)
                if wanted is None:
                    continue
                status, power, fault = wanted
                note = event or drift_cause(row, down)
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
