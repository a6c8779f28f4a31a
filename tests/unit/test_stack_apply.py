"""Carrying a plan out, with the services replaced by a recorder of calls (pure logic):
dependencies first, a failure stops new work, and the records left let the next plan
do exactly the rest. Also: export's TOML reads back as the same declarations."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from labcloud.errors import BackendError
from labcloud.services.stacks.apply import Applier
from labcloud.services.stacks.export import to_toml
from labcloud.services.stacks.plan import Owned, make_plan
from labcloud.services.stacks.refs import graph
from labcloud.services.stacks.schema import parse

LAB = """\
[network.lan]
[subnet.lan-sub]
network = "lan"
cidr = "10.40.0.0/24"
[router.r]
interfaces = ["lan-sub"]
[security_group.web]
rules = [{ protocol = "tcp", port = 80 }]
[server.web]
image = "tiny"
flavor = "m1.nano"
count = 3
networks = ["lan"]
security_groups = ["web"]
"""


class FakeActions:
    """Records what would be made; `fail` names a resource whose create fails."""

    def __init__(self, fail: str | None = None) -> None:
        self.calls: list[str] = []
        self.fail = fail
        self.lock = threading.Lock()

    def _note(self, text: str) -> None:
        with self.lock:
            self.calls.append(text)

    def find(self, kind: str, name: str) -> str | None:
        return None

    def bare(self, kind: str, props: dict[str, Any]) -> dict[str, Any]:
        return {**props, "rules": []} if kind == "security_group" else dict(props)

    def create(self, kind: str, name: str, props: dict[str, Any]) -> str:
        if name == self.fail:
            raise BackendError("the disk is full")
        self._note(f"create {kind} {name}")
        return f"id-{name}"

    def link(self, kind: str, rid: str, old: Any, new: Any, extra: dict[str, Any]) -> None:
        self._note(f"link {kind} {rid}")

    def unlink(self, kind: str, rid: str, old: Any, new: Any, extra: dict[str, Any]) -> None:
        self._note(f"unlink {kind} {rid}")

    def delete(self, kind: str, name: str, rid: str, old: Any) -> None:
        self._note(f"delete {kind} {name}")


class Records:
    def __init__(self, owned: dict[Any, Owned]) -> None:
        self.owned = owned

    def begin(self, key: Any) -> None:
        self.owned[key] = Owned(None, "CREATING", {})

    def save(self, key: Any, rid: str, spec: Any, extra: Any, status: str = "COMPLETE") -> None:
        self.owned[key] = Owned(rid, status, spec, dict(extra))

    def forget(self, key: Any) -> None:
        self.owned.pop(key, None)


def plan(text: str, owned: dict[Any, Owned]):  # type: ignore[no-untyped-def]
    stack = parse(text, "lab.toml")
    deps = graph(stack, lambda kind, name: True)
    return make_plan(stack, deps, owned, lambda kind, rid: True, lambda kind, name: False)


def run(text: str, records: Records, actions: FakeActions) -> None:
    Applier(actions, records, dict(records.owned), workers=3).run(plan(text, records.owned))  # type: ignore[arg-type]


def test_dependencies_are_made_first_and_a_second_run_does_nothing() -> None:
    records, actions = Records({}), FakeActions()
    run(LAB, records, actions)
    calls = actions.calls
    assert calls.index("create network lan") < calls.index("create subnet lan-sub")
    assert calls.index("create subnet lan-sub") < calls.index("create router r")
    assert calls.index("link security_group id-web") < calls.index("create server web-1")
    assert {o.status for o in records.owned.values()} == {"COMPLETE"}
    assert plan(LAB, records.owned).actionable == []


def test_a_failure_stops_new_work_and_the_next_run_does_the_rest() -> None:
    records = Records({})
    with pytest.raises(BackendError, match="server web-2: the disk is full") as caught:
        run(LAB, records, FakeActions(fail="web-2"))
    assert "run `stack apply` again" in (caught.value.hint or "")
    assert records.owned[("server", "web-2")].status == "CREATING"
    rest = plan(LAB, records.owned)
    assert [c.line() for c in rest.actionable] == ["+ server web-2"]
    again = FakeActions()
    run(LAB, records, again)
    assert again.calls == ["create server web-2"]
    assert plan(LAB, records.owned).actionable == []


def test_removed_resources_are_deleted_servers_before_their_network() -> None:
    records, actions = Records({}), FakeActions()
    run(LAB, records, actions)
    actions = FakeActions()
    run("", records, actions)
    deletes = [c for c in actions.calls if c.startswith("delete")]
    assert deletes.index("delete server web-1") < deletes.index("delete router r")
    assert deletes.index("delete router r") < deletes.index("delete subnet lan-sub")
    assert deletes.index("delete subnet lan-sub") < deletes.index("delete network lan")
    assert records.owned == {}


def test_export_writes_toml_that_reads_back_as_the_same_declarations() -> None:
    stack = parse(LAB.replace("count = 3", ""), "lab.toml")
    specs = {k: d.props for k, d in stack.decls.items()}
    specs[("floating_ip", "198.51.100.7")] = {
        "network": "public",
        "server": "web",
        "address": "198.51.100.7",
    }
    specs[("flavor", "m1.nano")] = {"vcpus": 1, "ram": 128, "disk": 1, "ephemeral": 0}
    again = parse(to_toml(specs, "exported"), "export.toml")
    assert {k: d.props for k, d in again.decls.items()} == specs


def test_one_apply_of_a_stack_at_a_time(lab_file) -> None:  # type: ignore[no-untyped-def]
    from labcloud.db.stack_models import Stack
    from labcloud.errors import Conflict
    from labcloud.lab import Lab

    lab = Lab.open(str(lab_file))
    lab.init()
    row = Stack(
        id="00000000-0000-4000-8000-000000000001",
        name="s",
        status="NEW",
        project_id=lab.ctx.project.id,
    )
    with (
        lab.stacks.locked(row),
        pytest.raises(Conflict, match="stack s is being applied"),
        lab.stacks.locked(row),
    ):
        pass
    with lab.stacks.locked(row):
        pass  # free again once the first is done
