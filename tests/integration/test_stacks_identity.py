"""An admin declares a team in a stack: its project, a user (a unix account of the node)
with the member role there, and quotas. The user sees the project and works in it until
the quota says no; a second apply has nothing to do; a member may not apply such a stack;
destroying it removes the project and the user and puts the quotas back to lab.toml's.

No guest boots: networks are what the quota counts here. The node is this module's own,
since the story changes quotas.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from labcloud.errors import EXIT_CODES
from tests.harness.node import Node, start_node
from tests.harness.requirements import require_root_and_tools
from tests.integration.identity_helpers import add_unix_users

TEAM = """\
[stack]
name = "team"
description = "the second team: its project, its member and its limits"

[project.team2]
description = "the second team"

[user.dana]
roles = { team2 = "member" }

[quota.team2]
networks = 1

[quota.demo]
volumes = 3
"""


@pytest.fixture(scope="module")
def lab() -> Iterator[Node]:
    require_root_and_tools()
    node = start_node("stackid")
    try:
        add_unix_users(node, ("dana",))
        node.labcloud("init")
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="module")
def default_volumes(lab: Node) -> object:
    """lab.toml's volume limit, as demo has it before the stack sets its own."""
    return limits(lab, "demo")["volumes"]


@pytest.fixture(scope="module")
def team(lab: Node, default_volumes: object) -> Iterator[Path]:
    path = lab.workdir / "team.toml"
    path.write_text(TEAM)
    try:
        yield path
    finally:
        lab.labcloud("stack", "destroy", "team", check=False)


def as_dana(lab: Node, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return lab.labcloud(*args, check=check, env={"SUDO_USER": "dana"})


def js(lab: Node, *args: str, user: str | None = None) -> object:
    env = {"SUDO_USER": user} if user else None
    return json.loads(lab.labcloud(*args, "-f", "json", env=env).stdout)


def limits(lab: Node, project: str) -> dict[str, object]:
    rows = js(lab, "quota", "show", project)
    assert isinstance(rows, list)
    return {row["Resource"]: row["Limit"] for row in rows}


def test_the_declared_user_works_in_the_declared_project_until_the_quota_says_no(
    lab: Node, team: Path, default_volumes: object
) -> None:
    plan = lab.labcloud("stack", "plan", str(team)).stdout
    for line in ("+ project team2", "+ user dana", "+ quota team2", "+ quota demo"):
        assert f"  {line}\n" in plan
    out = lab.labcloud("stack", "apply", str(team)).stdout
    assert "Apply complete: 4 created, 0 updated in place, 0 replaced, 0 deleted." in out

    assert {p["Name"] for p in js(lab, "project", "list", user="dana")} == {"team2"}  # type: ignore[attr-defined,index]
    assert limits(lab, "team2")["networks"] == 1
    assert limits(lab, "demo")["volumes"] == 3 != default_volumes

    as_dana(lab, "network", "create", "dana-net", "--project", "team2")
    refused = as_dana(lab, "network", "create", "dana-net2", "--project", "team2", check=False)
    assert refused.returncode == EXIT_CODES["quota"], refused.stderr
    assert refused.stderr.strip().count("\n") == 0
    assert "quota exceeded for networks in project 'team2': 1 of 1 used" in refused.stderr


def test_a_second_apply_has_nothing_to_do(lab: Node, team: Path) -> None:
    plan = lab.labcloud("stack", "plan", str(team)).stdout
    assert "no changes: the lab matches the file" in plan
    out = lab.labcloud("stack", "apply", str(team)).stdout
    assert "Apply complete: 0 created, 0 updated in place, 0 replaced, 0 deleted." in out


def test_export_writes_the_projects_quota_overrides(lab: Node, team: Path) -> None:
    exported = lab.labcloud("stack", "export", "--project", "demo").stdout
    assert "[quota.demo]\nvolumes = 3\n" in exported


def test_a_member_may_not_apply_a_stack_of_identity(lab: Node, team: Path) -> None:
    mine = lab.workdir / "dana.toml"
    mine.write_text("[project.dana-own]\n\n[quota.team2]\nnetworks = 50\n")
    refused = as_dana(lab, "stack", "apply", str(mine), "--project", "team2", check=False)
    assert refused.returncode == EXIT_CODES["forbidden"], refused.stderr
    assert "a stack of projects, quotas needs the admin role" in refused.stderr
    assert refused.stderr.strip().count("\n") == 0
    assert limits(lab, "team2")["networks"] == 1  # nothing changed
    assert "dana-own" not in {p["Name"] for p in js(lab, "project", "list")}  # type: ignore[attr-defined,index]


def test_destroy_removes_the_project_and_user_and_restores_the_quotas(
    lab: Node, team: Path, default_volumes: object
) -> None:
    # team2 still holds dana's network: the project is refused first, and nothing changes.
    held = lab.labcloud("stack", "destroy", "team", check=False)
    assert held.returncode == EXIT_CODES["conflict"], held.stderr
    assert "project 'team2' still holds 1 network (dana-net)" in held.stderr
    assert "run `stack destroy` again" in held.stderr
    assert js(lab, "stack", "show", "team")["status"] == "FAILED"  # type: ignore[index]
    assert {p["Name"] for p in js(lab, "project", "list", user="dana")} == {"team2"}  # type: ignore[attr-defined,index]
    as_dana(lab, "network", "delete", "dana-net", "--project", "team2")

    out = lab.labcloud("stack", "destroy", "team").stdout
    assert "stack team destroyed: 4 resources deleted" in out
    assert "team2" not in {p["Name"] for p in js(lab, "project", "list")}  # type: ignore[attr-defined,index]
    assert "dana" not in {u["Name"] for u in js(lab, "user", "list")}  # type: ignore[attr-defined,index]
    assert limits(lab, "demo")["volumes"] == default_volumes
    gone = as_dana(lab, "project", "list", check=False)
    assert gone.returncode == EXIT_CODES["forbidden"]
    assert "'dana' is not a labcloud user" in gone.stderr
