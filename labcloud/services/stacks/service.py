"""StackService: plan, apply, destroy, list, show and export stacks (Heat for the lab).

The stack's records (labcloud/db/stack_models.py) say which resources it owns; every
resource is made, changed and deleted through its own service, so quotas, validation
and journals apply exactly as for a hand-made command.
"""

from __future__ import annotations

import builtins
import fcntl
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import select

from labcloud.db.models import utcnow
from labcloud.db.stack_models import Stack, StackResource
from labcloud.errors import ConfigError, Conflict, NotFound
from labcloud.names import new_uuid
from labcloud.services.core import ServiceContext, find, record_event, writes
from labcloud.services.stacks import export as exporter
from labcloud.services.stacks.actions import Actions
from labcloud.services.stacks.apply import Applier
from labcloud.services.stacks.catalog import Catalog
from labcloud.services.stacks.plan import Change, Owned, Plan, delete_rank, make_plan
from labcloud.services.stacks.refs import OUTPUT_REF, Key, graph
from labcloud.services.stacks.schema import ADMIN_KINDS, StackFile, parse


@dataclass
class Loaded:
    stack: StackFile
    plan: Plan
    owned: dict[Key, Owned]


class StackService:
    noun = "stack"

    def __init__(self, ctx: ServiceContext, lab: Any) -> None:
        self.ctx = ctx
        self.lab = lab  # the other services, reached by name (lab.compute, lab.network, ...)

    # -- reading --------------------------------------------------------------------
    def read(
        self, file: str, name: str | None = None, params: dict[str, str] | None = None
    ) -> StackFile:
        path = Path(file)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file}: cannot read the stack file: {exc}") from None
        return parse(text, file, name=name, params=params, base_dir=str(path.parent))

    def plan(
        self,
        file: str,
        name: str | None = None,
        params: dict[str, str] | None = None,
        adopt: bool = False,
    ) -> Loaded:
        stack = self.read(file, name, params)
        catalog = Catalog(self.lab)
        deps = graph(stack, catalog.exists)
        row = self._stack_row(stack.name)
        owned = self._owned(row.id) if row else {}
        owned_ids = {o.resource_id for o in owned.values() if o.resource_id}
        others = self._owned_elsewhere(row.id if row else None)

        def unowned(kind: str, res_name: str) -> bool:
            rid = catalog.names(kind).get(res_name)
            return rid is not None and rid not in owned_ids

        def existing() -> dict[Key, dict[str, Any]]:
            found = exporter.current(self.lab)
            if any(kind in ADMIN_KINDS for kind, _n in [*stack.decls, *owned]):
                found.update(exporter.identity(self.lab))
            return found

        def adoptable(kind: str, res_name: str) -> dict[str, Any] | None:
            rid = catalog.names(kind).get(res_name)
            if rid in others:
                return None  # another stack's: never taken
            return existing().get((kind, res_name))

        now: dict[tuple[str, str], dict[str, Any]] = {}
        if owned:
            for (kind, res_name), spec in existing().items():
                # a quota's ID is its project's
                rid = catalog.names("project" if kind == "quota" else kind).get(res_name)
                if rid:
                    now[(kind, rid)] = spec
        plan = make_plan(
            stack,
            deps,
            owned,
            catalog.has_id,
            unowned,
            adoptable if adopt else None,
            lambda kind, rid: now.get((kind, rid)),
        )
        return Loaded(stack, plan, owned)

    # -- apply / destroy ------------------------------------------------------------
    @writes
    def apply(
        self,
        file: str,
        name: str | None = None,
        params: dict[str, str] | None = None,
        *,
        adopt: bool = False,
        workers: int = 4,
        log: Callable[[str], None] = lambda _l: None,
    ) -> Loaded:
        declared = self.read(file, name, params)
        row = self._stack_row(declared.name)
        _require_admin_for([*declared.decls, *(self._owned(row.id) if row else {})], self.ctx)
        self._warm()
        loaded = self.plan(file, name, params, adopt)
        stack = loaded.stack
        row = self._ensure_stack(stack, file)
        with self.locked(row):
            self._set_status(row.id, "APPLYING")
            try:
                Applier(
                    Actions(self.lab, stack.base_dir),
                    _Recorder(self.ctx, row.id),
                    loaded.owned,
                    workers,
                    log,
                ).run(loaded.plan)
            except BaseException:
                self._set_status(row.id, "FAILED")
                raise
            self._set_status(row.id, "COMPLETE")
        return loaded

    @writes
    def destroy(
        self, name: str, keep_volumes: bool = False, log: Callable[[str], None] = lambda _l: None
    ) -> list[Change]:
        row = self._get_stack(name)
        owned = self._owned(row.id)
        _require_admin_for(list(owned), self.ctx)
        self._warm()
        with self.locked(row):
            self._set_status(row.id, "DESTROYING")
            recorder = _Recorder(self.ctx, row.id)
            if keep_volumes:
                for key in [k for k in owned if k[0] == "volume"]:
                    recorder.forget(key)  # kept: no longer the stack's
                    owned.pop(key)
            plan = Plan(
                name,
                [Change("delete", k, n, old=o.spec) for (k, n), o in sorted(owned.items())],
                {},
            )
            plan.changes.sort(key=lambda c: delete_rank(c.key))
            try:
                Applier(Actions(self.lab), recorder, owned, 4, log, "stack destroy").run(plan)
            except BaseException:
                self._set_status(row.id, "FAILED")  # what is left is still the stack's
                raise
            with self.ctx.store.write() as s:
                stack = s.get(Stack, row.id)
                if stack is not None:
                    s.delete(stack)
                record_event(s, "stack", row.id, name, "destroyed")
        return plan.changes

    # -- queries --------------------------------------------------------------------
    def list(self) -> list[tuple[Stack, int]]:
        with self.ctx.store.read() as s:
            rows = list(
                s.exec(
                    select(Stack)
                    .where(Stack.project_id == self.ctx.project.id)
                    .order_by(Stack.name)
                )
            )
            counts = {
                r.id: len(
                    list(s.exec(select(StackResource.id).where(StackResource.stack_id == r.id)))
                )
                for r in rows
            }
        return [(r, counts[r.id]) for r in rows]

    def show(self, name: str) -> tuple[Stack, builtins.list[StackResource], dict[str, str]]:
        row = self._get_stack(name)
        with self.ctx.store.read() as s:
            resources = list(
                s.exec(
                    select(StackResource)
                    .where(StackResource.stack_id == row.id)
                    .order_by(StackResource.kind, StackResource.name)
                )
            )
        return row, resources, self.outputs(row, resources)

    def outputs(self, row: Stack, resources: builtins.list[StackResource]) -> dict[str, str]:
        by_key = {(r.kind, r.name): r for r in resources}
        out = {}
        for out_name, expr in json.loads(row.outputs).items():
            out[out_name] = OUTPUT_REF.sub(lambda m: self._attr(by_key, *m.groups()), expr)
        return out

    def _attr(self, by_key: dict[Key, StackResource], kind: str, name: str, attr: str) -> str:
        res = by_key.get((kind, name))
        if res is None or not res.resource_id:
            return ""
        rid = res.resource_id
        try:
            if attr == "id":
                return rid
            if attr == "name":
                return name
            if kind == "server":
                server = self.lab.compute.get(rid, sync=False)
                if attr == "status":
                    return str(server.status)
                addrs = self.lab.network.server_addresses([rid]).get(rid, "")
                if attr == "addresses":
                    return addrs
                first = addrs.split("=", 1)[1].split(",")[0].split(";")[0] if "=" in addrs else ""
                return first.strip()
            if kind == "floating_ip":
                return str(self.lab.floating_ips.get(rid).floating_ip_address)
            if kind == "subnet":
                sub = self.lab.network.get_subnet(rid)
                return str(sub.cidr if attr == "cidr" else sub.gateway_ip or "")
            if kind == "router" and attr == "gateway":
                legs = self.lab.routers.interfaces(rid)
                return next((leg["ip_address"] for leg in legs if leg["kind"] == "gateway"), "")
            if attr == "status":
                return str(getattr(self._get_any(kind, rid), "status", ""))
        except NotFound:
            return ""
        return ""

    def _get_any(self, kind: str, rid: str) -> Any:
        return {
            "volume": self.lab.volumes.get,
            "network": self.lab.network.get_network,
            "router": self.lab.routers.get,
        }.get(kind, lambda _r: None)(rid)

    def export(self) -> str:
        header = (
            f"labcloud stack export of project {self.ctx.project.name}\n"
            "take it over with: labcloud stack apply FILE --adopt"
        )
        specs = exporter.current(self.lab)
        _project, overrides = self.lab.quotas.overrides()
        if overrides:
            specs[("quota", self.ctx.project.name)] = exporter.quota_spec(overrides)
        return exporter.to_toml(specs, header)

    # -- records --------------------------------------------------------------------
    def _warm(self) -> None:
        """Build every service (and its crash recovery) before threads share them."""
        for attr in (
            "compute",
            "network",
            "routers",
            "security_groups",
            "floating_ips",
            "volumes",
            "images",
            "keypairs",
            "flavors",
            "l3_agent",
            "identity",
            "quotas",
        ):
            getattr(self.lab, attr)
        _ = self.ctx.hypervisor, self.ctx.project, self.ctx.net
        # The accelerator probe caches its answer in a file: probe once, not per thread.
        self.ctx.agent.virt_type(self.ctx.config.site.virt_type)

    def _stack_row(self, name: str) -> Stack | None:
        with self.ctx.store.read() as s:
            return s.exec(
                select(Stack).where(Stack.project_id == self.ctx.project.id, Stack.name == name)
            ).first()

    def _get_stack(self, name: str) -> Stack:
        with self.ctx.store.read() as s:
            return find(s, Stack, name, "stack", project_id=self.ctx.project.id)

    def _owned(self, stack_id: str) -> dict[Key, Owned]:
        with self.ctx.store.read() as s:
            rows = s.exec(select(StackResource).where(StackResource.stack_id == stack_id))
            return {
                (r.kind, r.name): Owned(
                    r.resource_id, r.status, json.loads(r.spec), json.loads(r.extra)
                )
                for r in rows
            }

    def _owned_elsewhere(self, stack_id: str | None) -> set[str]:
        with self.ctx.store.read() as s:
            q = select(StackResource.resource_id).where(StackResource.stack_id != (stack_id or ""))
            return {rid for rid in s.exec(q) if rid}

    def _ensure_stack(self, stack: StackFile, file: str) -> Stack:
        with self.ctx.store.write() as s:
            row = s.exec(
                select(Stack).where(
                    Stack.project_id == self.ctx.project.id, Stack.name == stack.name
                )
            ).first()
            if row is None:
                row = Stack(
                    id=new_uuid(), name=stack.name, status="NEW", project_id=self.ctx.project.id
                )
                s.add(row)
                record_event(s, "stack", row.id, stack.name, "created")
            row.description, row.source = stack.description, file
            row.parameters = json.dumps(stack.parameters, default=str)
            row.outputs = json.dumps(stack.outputs)
            row.updated_at = utcnow()
            s.flush()
            s.expunge(row)
        return row

    def _set_status(self, stack_id: str, status: str) -> None:
        with self.ctx.store.write() as s:
            row = s.get(Stack, stack_id)
            if row is not None:
                row.status, row.updated_at = status, utcnow()
                record_event(s, "stack", row.id, row.name, status.lower())

    @contextmanager
    def locked(self, row: Stack) -> Iterator[None]:
        """One apply or destroy of a stack at a time, across processes."""
        lock_dir = self.ctx.state_dir / "locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        with open(lock_dir / f"stack-{row.id}.lock", "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise Conflict(
                    f"stack {row.name} is being applied or destroyed by another process",
                    "wait for it to finish",
                ) from None
            yield


def _require_admin_for(keys: list[Key], ctx: ServiceContext) -> None:
    """Projects, users and quotas are the lab's, not a project's: a stack that declares or
    owns any is applied and destroyed by an admin only, refused before anything changes."""
    kinds = sorted({kind for kind, _name in keys if kind in ADMIN_KINDS})
    if kinds:
        ctx.access.require_admin(f"a stack of {', '.join(k + 's' for k in kinds)}")


class _Recorder:
    """The Recorder of apply.py, on the store: one short write transaction per change."""

    def __init__(self, ctx: ServiceContext, stack_id: str) -> None:
        self.ctx = ctx
        self.stack_id = stack_id

    def _row(self, s: Any, key: Key) -> StackResource | None:
        return s.exec(
            select(StackResource).where(
                StackResource.stack_id == self.stack_id,
                StackResource.kind == key[0],
                StackResource.name == key[1],
            )
        ).first()

    def begin(self, key: Key) -> None:
        with self.ctx.store.write() as s:
            row = self._row(s, key)
            if row is None:
                s.add(StackResource(stack_id=self.stack_id, kind=key[0], name=key[1]))
            else:
                row.status, row.resource_id, row.updated_at = "CREATING", None, utcnow()

    def save(
        self,
        key: Key,
        rid: str,
        spec: dict[str, Any],
        extra: dict[str, Any],
        status: str = "COMPLETE",
    ) -> None:
        with self.ctx.store.write() as s:
            row = self._row(s, key)
            if row is None:
                row = StackResource(stack_id=self.stack_id, kind=key[0], name=key[1])
                s.add(row)
            row.resource_id, row.status = rid, status
            row.spec, row.extra = json.dumps(spec), json.dumps(extra)
            row.updated_at = utcnow()

    def forget(self, key: Key) -> None:
        with self.ctx.store.write() as s:
            row = self._row(s, key)
            if row is not None:
                s.delete(row)
