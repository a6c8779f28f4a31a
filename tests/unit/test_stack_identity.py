"""Projects, users with their roles, and quotas declared in a stack: planned like the
other kinds, applied through the identity and quota services on a real store (no libvirt),
a second apply has nothing to do, and destroying puts the lab back as it was."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from labcloud.errors import ConfigError, Conflict, Forbidden
from labcloud.lab import Lab
from labcloud.services.stacks import export as exporter
from labcloud.services.stacks.actions import Actions
from labcloud.services.stacks.apply import Applier
from labcloud.services.stacks.catalog import Catalog
from labcloud.services.stacks.plan import Owned, Plan, make_plan
from labcloud.services.stacks.refs import graph
from labcloud.services.stacks.schema import parse

TEAM = """\
[project.team2]
description = "the second team"

[user.nobody]
roles = { team2 = "member", demo = "reader" }

[quota.team2]
instances = 2
cores = 4

[quota.demo]
volumes = 3
"""


class Records:
    """The stack's records, in memory."""

    def __init__(self) -> None:
        self.owned: dict[Any, Owned] = {}

    def begin(self, key: Any) -> None:
        self.owned[key] = Owned(None, "CREATING", {})

    def save(self, key: Any, rid: str, spec: Any, extra: Any, status: str = "COMPLETE") -> None:
        self.owned[key] = Owned(rid, status, dict(spec), dict(extra))

    def forget(self, key: Any) -> None:
        self.owned.pop(key, None)


@pytest.fixture
def lab(lab_file: Path) -> Lab:
    lab = Lab.open(str(lab_file))
    lab.init()
    return lab


def plan(lab: Lab, text: str, records: Records) -> Plan:
    stack = parse(text, "team.toml")
    catalog = Catalog(lab)
    deps = graph(stack, catalog.exists)
    now = {  # what is there now, read back as plan does (a quota's ID is its project's)
        (kind, catalog.names("project" if kind == "quota" else kind).get(name)): spec
        for (kind, name), spec in exporter.identity(lab).items()
    }
    return make_plan(
        stack,
        deps,
        dict(records.owned),
        catalog.has_id,
        lambda kind, name: False,
        current=lambda kind, rid: now.get((kind, rid)),
    )


def apply(lab: Lab, text: str, records: Records) -> list[str]:
    p = plan(lab, text, records)
    Applier(Actions(lab), records, dict(records.owned), workers=2).run(p)
    return [c.line() for c in p.actionable]


def limits(lab: Lab, project: str) -> dict[str, int]:
    return {q.resource: q.limit for q in lab.quotas.show(project)[1]}


def roles(lab: Lab, user: str) -> dict[str, str]:
    return {a.project: a.role for a in lab.identity.get_user(user)[1]}


def test_plan_shows_identity_changes_like_any_other(lab: Lab) -> None:
    first = plan(lab, TEAM, Records())
    lines = [c.line() for c in first.actionable]
    assert lines.index("+ project team2") < lines.index("+ user nobody")
    assert lines.index("+ project team2") < lines.index("+ quota team2")
    assert "+ quota demo" in lines
    assert first.counts()["create"] == 4


def test_apply_makes_them_a_second_apply_is_a_no_op_and_edits_are_in_place(lab: Lab) -> None:
    defaults = limits(lab, "demo")
    records = Records()
    apply(lab, TEAM, records)
    assert "team2" in {p.name for p in lab.identity.list_projects()}
    assert roles(lab, "nobody") == {"team2": "member", "demo": "reader"}
    assert limits(lab, "team2")["instances"] == 2 and limits(lab, "team2")["cores"] == 4
    assert limits(lab, "demo") == {**defaults, "volumes": 3}

    assert plan(lab, TEAM, records).actionable == []

    edited = TEAM.replace('demo = "reader"', 'demo = "member"').replace("instances = 2", "")
    edited = edited.replace("cores = 4", "cores = 6")
    changes = {c.line(): c.notes for c in plan(lab, edited, records).actionable}
    assert changes == {
        "~ user nobody": ["+ role member in demo"],
        "~ quota team2": ["instances: 2 -> default", "cores: 4 -> 6"],
    }
    apply(lab, edited, records)
    assert roles(lab, "nobody")["demo"] == "member"
    assert limits(lab, "team2")["instances"] == defaults["instances"]
    assert limits(lab, "team2")["cores"] == 6


def test_a_role_or_limit_changed_by_hand_is_put_back(lab: Lab) -> None:
    records = Records()
    apply(lab, TEAM, records)
    lab.identity.remove_role("nobody", "team2")
    lab.quotas.set("demo", {"volumes": 9, "routers": 1})  # routers: not the stack's
    changes = {c.line(): c.notes for c in plan(lab, TEAM, records).actionable}
    assert changes == {
        "~ user nobody": ["+ role member in team2"],
        "~ quota demo": ["volumes: 9 -> 3"],
    }
    apply(lab, TEAM, records)
    assert roles(lab, "nobody")["team2"] == "member"
    assert limits(lab, "demo")["volumes"] == 3 and limits(lab, "demo")["routers"] == 1


def test_destroy_removes_what_the_stack_made_and_restores_the_defaults(lab: Lab) -> None:
    defaults = limits(lab, "demo")
    records = Records()
    apply(lab, TEAM, records)
    lines = apply(lab, "", records)
    assert lines[0] == "- project team2"  # the one step the service may refuse, first
    assert "team2" not in {p.name for p in lab.identity.list_projects()}
    assert "nobody" not in {u.name for u, _ in lab.identity.list_users()}
    assert limits(lab, "demo") == defaults
    assert records.owned == {}


def test_a_project_that_still_holds_something_is_not_deleted(lab: Lab) -> None:
    records = Records()
    apply(lab, TEAM, records)
    held = Lab.open(str(lab.config.source), project="team2")
    held.security_groups.create("by-hand")
    with pytest.raises(Conflict, match="still holds 1 security group"):
        apply(lab, "", records)
    assert ("project", "team2") in records.owned  # kept: the next destroy tries again
    assert roles(lab, "nobody") == {"team2": "member", "demo": "reader"}  # refused first
    assert limits(lab, "team2")["instances"] == 2


def test_a_member_applying_identity_gets_the_services_refusal(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab.identity.create_user("nobody", project="demo", role="member")
    monkeypatch.setenv("SUDO_USER", "nobody")
    stack_file = Path(str(lab.config.source)).with_name("team.toml")
    stack_file.write_text(TEAM.replace("[user.nobody]", "[user.daemon]"))
    member = Lab.open(str(lab.config.source))
    with pytest.raises(Forbidden) as err:
        member.stacks.apply(str(stack_file))
    assert err.value.one_line().startswith(
        "a stack of projects, quotas, users needs the admin role"
    )
    assert "team2" not in {p.name for p in lab.identity.list_projects()}  # nothing changed


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('[user.nobody]\nroles = { demo = "membr" }\n', "unknown role 'membr'"),
        ('[user.nobody]\nroles = { nowhere = "member" }\n', "no project named 'nowhere'"),
        ("[quota.nowhere]\ninstances = 1\n", "no project named 'nowhere'"),
        ("[quota.demo]\ninstances = -2\n", "a quota is -1 (unlimited) or at least 0"),
        ("[quota.demo]\ninstance = 2\n", "did you mean"),
    ],
)
def test_bad_identity_declarations_name_the_line(lab: Lab, text: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        plan(lab, text, Records())
    assert words in err.value.one_line()
    assert "team.toml:" in err.value.one_line()


def test_an_existing_project_is_refused_unless_adopted(lab: Lab) -> None:
    stack_file = Path(str(lab.config.source)).with_name("own.toml")
    stack_file.write_text('[project.demo]\ndescription = "ours now"\n')
    with pytest.raises(ConfigError, match="a project named 'demo' already exists"):
        lab.stacks.plan(str(stack_file))
    adopting = lab.stacks.plan(str(stack_file), adopt=True).plan
    assert [(c.line(), c.notes) for c in adopting.actionable] == [
        ("= project demo", ["description: 'A project for trying things out' -> 'ours now'"])
    ]
