"""The journal of multi-step operations.

Each running operation holds an flock on its own lock file. If the process dies at
any step the kernel drops the lock, so another process can tell a crashed operation
(lock free) from one still in progress (lock held) and finish or roll it back.

The store records an operation when it begins (in the same transaction as its
allocation) and when it ends. The steps in between are written into the lock file
itself: a write of a few bytes instead of a write transaction per step. That is as
safe: a step is read back only when the lock file is still there and free, which is
exactly when its owner died, and a SIGKILL loses nothing already written to a file.
Steps that carry detail a recovery needs (a checksum) also go to the store. Recovery
never depends on a step being recorded: every undo is safe when its step never ran.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from sqlmodel import Session, select

from labcloud.db.models import Operation, utcnow
from labcloud.db.store import Store
from labcloud.errors import LabError
from labcloud.names import new_uuid

# Fault injection for the crash-consistency tests: `server.create:define` makes the
# process SIGKILL itself the moment it records that step, before doing it.
FAULT_ENV = "LABCLOUD_FAULT_KILL_AT"
STEP_BYTES = 32  # Operation.step's max_length


class OperationHandle:
    def __init__(self, journal: Journal, op_id: str, kind: str, lock: IO[str]) -> None:
        self.journal = journal
        self.id = op_id
        self.kind = kind
        self._lock = lock

    def step(self, step: str, **detail: object) -> None:
        """Record that this step is about to run (intent first, then the work)."""
        if detail:
            with self.journal.store.write() as s:
                op = s.get(Operation, self.id)
                assert op is not None
                op.step = step
                merged = json.loads(op.detail)
                merged.update(detail)
                op.detail = json.dumps(merged)
                op.updated_at = utcnow()
        # One fixed-size write at offset 0: a reader sees the old step or the new one.
        os.pwrite(self._lock.fileno(), step.encode().ljust(STEP_BYTES), 0)
        if os.environ.get(FAULT_ENV) == f"{self.kind}:{step}":
            os.kill(os.getpid(), signal.SIGKILL)

    def finish(self, session: Session, state: str = "done") -> None:
        """Mark the operation finished inside the caller's write transaction."""
        op = session.get(Operation, self.id)
        if op is not None:
            op.state = state
            op.updated_at = utcnow()


class Journal:
    def __init__(self, store: Store, lock_dir: Path) -> None:
        self.store = store
        self.lock_dir = lock_dir

    def _lock_path(self, op_id: str) -> Path:
        return self.lock_dir / f"op-{op_id}.lock"

    @contextmanager
    def begin(
        self, kind: str, resource_id: str, allocate: Callable[[Session], None], **detail: object
    ) -> Iterator[OperationHandle]:
        """Run `allocate` and add the journal row in one write transaction, holding the lock.

        If `allocate` raises (a conflict, a quota), nothing is written and no lock is left.
        """
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        op_id = new_uuid()
        lock_path = self._lock_path(op_id)
        lock = open(lock_path, "w")  # noqa: SIM115 - held for the operation's lifetime
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            with self.store.write() as s:
                allocate(s)
                s.add(
                    Operation(
                        id=op_id,
                        kind=kind,
                        resource_id=resource_id,
                        step="begin",
                        detail=json.dumps(detail),
                    )
                )
            yield OperationHandle(self, op_id, kind, lock)
        finally:
            # Unlinked only after the final state is committed: see interrupted().
            lock_path.unlink(missing_ok=True)
            lock.close()

    def recover(
        self,
        kinds: tuple[str, ...],
        one: Callable[[OperationHandle, Operation, dict[str, object]], str],
    ) -> list[tuple[str, str, str]]:
        """(operation, name, outcome) for each interrupted operation of these kinds, which
        `one` finishes or rolls back; one that raises a LabError is left for doctor."""
        done: list[tuple[str, str, str]] = []
        for op in self.interrupted():
            if op.kind not in kinds:
                continue
            with self.adopt(op) as handle:
                if handle is None:
                    continue
                detail = json.loads(op.detail)
                try:
                    outcome = one(handle, op, detail)
                except LabError as exc:
                    outcome = f"left for `labcloud doctor`: {exc.message}"
                done.append((op.kind, str(detail.get("name", op.resource_id)), outcome))
        return done

    def interrupted(self) -> list[Operation]:
        """Operations still marked running whose owner is gone, each with the last step
        its owner recorded (from the lock file when it is there, else the store's)."""
        with self.store.read() as s:
            running = list(s.exec(select(Operation).where(Operation.state == "running")))
        dead = []
        for op in running:
            owner_dead, step = self._owner_dead(op.id)
            if owner_dead:
                if step:
                    op.step = step  # detached from the session: never written back
                dead.append(op)
        return dead

    @contextmanager
    def adopt(self, op: Operation) -> Iterator[OperationHandle | None]:
        """Take over a crashed operation, holding its lock so exactly one process recovers it.

        Yields None when another process holds it or it finished meanwhile.
        """
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        lock_path = self._lock_path(op.id)
        lock = open(lock_path, "w")  # noqa: SIM115
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            yield None
            return
        try:
            with self.store.read() as s:
                current = s.get(Operation, op.id)
            still_running = current is not None and current.state == "running"
            yield OperationHandle(self, op.id, op.kind, lock) if still_running else None
        finally:
            lock_path.unlink(missing_ok=True)
            lock.close()

    def _owner_dead(self, op_id: str) -> tuple[bool, str]:
        """(is its owner gone, the step in its lock file or "")."""
        try:
            fd = os.open(self._lock_path(op_id), os.O_RDWR)
        except FileNotFoundError:
            return True, ""  # finished just now, or died; adopt() re-reads the row to tell
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False, ""
        else:
            return True, os.pread(fd, STEP_BYTES, 0).decode(errors="replace").strip()
        finally:
            os.close(fd)
