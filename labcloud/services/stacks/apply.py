"""Carrying a plan out, in dependency order, independent resources in parallel.

    1. unlink   the removing halves of updates (detach, remove a leg, delete a rule)
    2. delete   what is no longer declared, and the old half of each replace, in
                tiers: floating IPs, servers, volumes, routers, subnets, networks, ...
    3. create   creates, the new halves of replaces, and in-place updates, as a graph:
                each starts once everything it references is done

Each resource's progress is written to the stack's records as it happens (a row goes
CREATING before its create, COMPLETE after, DELETING before a delete), so an apply
killed at any point leaves records that the next plan turns into exactly the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from labcloud.errors import LabError
from labcloud.services.stacks.actions import Actions
from labcloud.services.stacks.plan import DELETE_ORDER, Change, Owned, Plan
from labcloud.services.stacks.refs import Key


class Recorder(Protocol):
    """The stack's records of its resources (service.py writes them to the store)."""

    def begin(self, key: Key) -> None: ...
    def save(
        self,
        key: Key,
        rid: str,
        spec: dict[str, Any],
        extra: dict[str, Any],
        status: str = "COMPLETE",
    ) -> None: ...
    def forget(self, key: Key) -> None: ...


@dataclass
class Failure:
    key: Key
    error: BaseException


class Applier:
    def __init__(
        self,
        actions: Actions,
        recorder: Recorder,
        owned: dict[Key, Owned],
        workers: int = 4,
        log: Callable[[str], None] = lambda _line: None,
        again: str = "stack apply",
    ) -> None:
        self.again = again  # the command that resumes after a failure
        self.actions = actions
        self.rec = recorder
        self.owned = owned
        self.workers = workers
        self.log = log

    def run(self, plan: Plan) -> list[Change]:
        todo = plan.actionable
        updates = [c for c in todo if c.action == "update"]
        self._parallel([(c.key, partial(self._unlink, c)) for c in updates], {})
        gone = [c for c in todo if c.action in ("delete", "replace")]
        for tier in _tiers(gone):
            self._parallel([(c.key, partial(self._delete, c)) for c in tier], {})
        build = [c for c in todo if c.action in ("create", "replace", "update", "adopt")]
        keys = {c.key for c in build}
        deps = {c.key: plan.deps.get(c.key, set()) & keys for c in build}
        self._parallel([(c.key, partial(self._build, c)) for c in build], deps)
        return todo

    # -- one resource ---------------------------------------------------------------
    def _unlink(self, c: Change) -> None:
        have = self.owned[c.key]
        assert have.resource_id is not None
        self.actions.unlink(c.kind, have.resource_id, c.old, c.new, have.extra)
        self.rec.save(c.key, have.resource_id, have.spec, have.extra, "UPDATING")

    def _delete(self, c: Change) -> None:
        have = self.owned.pop(c.key, None)
        rid = have.resource_id if have else None
        if have is not None and rid is None and have.status == "CREATING":
            rid = self.actions.find(c.kind, c.name)  # made by an apply that was killed
        if have is not None and rid:
            self.rec.save(c.key, rid, have.spec, have.extra, "DELETING")
            self.log(f"- {c.kind} {c.name}: deleting")
            self.actions.delete(c.kind, c.name, rid, have.spec)
        self.rec.forget(c.key)

    def _build(self, c: Change) -> None:
        if c.action == "update":
            have = self.owned[c.key]
            assert have.resource_id is not None
            self.log(f"~ {c.kind} {c.name}: updating in place")
            self.actions.link(c.kind, have.resource_id, c.old, c.new, have.extra)
            self.rec.save(c.key, have.resource_id, c.new, have.extra)
            return
        if c.action == "adopt":
            rid = self.actions.find(c.kind, c.name)
            assert rid is not None
            self.log(f"= {c.kind} {c.name}: adopted")
            extra: dict[str, Any] = {}
            self.rec.save(c.key, rid, c.old, extra, "UPDATING")
            self.actions.unlink(c.kind, rid, c.old, c.new, extra)
            self.actions.link(c.kind, rid, c.old, c.new, extra)
            self.rec.save(c.key, rid, c.new, extra)
            return
        recorded = self.owned.get(c.key)
        rid = None
        if recorded is not None and recorded.status == "CREATING":
            rid = self.actions.find(c.kind, c.name)  # made by an apply that was killed
        else:
            self.rec.begin(c.key)
        if rid is None:
            self.log(f"+ {c.kind} {c.name}: creating")
            rid = self.actions.create(c.kind, c.name, c.new)
        bare = self.actions.bare(c.kind, c.new)
        extra = {}
        self.rec.save(c.key, rid, bare, extra, "UPDATING" if bare != c.new else "COMPLETE")
        if bare != c.new:
            self.actions.link(c.kind, rid, bare, c.new, extra)
            self.rec.save(c.key, rid, c.new, extra)
        self.log(f"+ {c.kind} {c.name}: done")

    # -- scheduling -----------------------------------------------------------------
    def _parallel(
        self, jobs: list[tuple[Key, Callable[[], None]]], deps: dict[Key, set[Key]]
    ) -> None:
        """Run jobs on the pool, each after its dependencies. On the first failure no new
        job starts; those running finish, and the failure is raised."""
        if not jobs:
            return
        pending = dict(jobs)
        done: set[Key] = set()
        failures: list[Failure] = []
        running: dict[Future[None], Key] = {}
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="stack") as pool:
            while pending or running:
                if not failures:
                    for key in [k for k in pending if deps.get(k, set()) <= done]:
                        running[pool.submit(pending.pop(key))] = key
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in finished:
                    key = running.pop(fut)
                    exc = fut.exception()
                    if exc is None:
                        done.add(key)
                    else:
                        failures.append(Failure(key, exc))
        if failures:
            first = failures[0]
            kind, name = first.key
            if isinstance(first.error, LabError):
                raise type(first.error)(
                    f"{kind} {name}: {first.error.message}",
                    (first.error.hint + "; " if first.error.hint else "")
                    + f"what was done is recorded: fix the cause and run `{self.again}` again",
                ) from first.error
            raise first.error


def _tiers(changes: list[Change]) -> list[list[Change]]:
    order = {kind: i for i, kind in enumerate(DELETE_ORDER)}
    tiers: dict[int, list[Change]] = {}
    for c in changes:
        tiers.setdefault(order.get(c.kind, 99), []).append(c)
    return [tiers[i] for i in sorted(tiers)]
