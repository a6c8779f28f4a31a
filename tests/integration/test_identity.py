"""Identity and quotas, as a class would use them: two teams in their own projects, a
reader who only looks, an admin who sees everything, and quotas that hold when several
processes race for the last slots.

The node gets unix accounts of its own (a private /etc/passwd bind-mounted inside its mount
namespace); the commands run as root with SUDO_USER set, as `sudo labcloud` would.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from tests.harness.node import LABCLOUD_BIN, Node, start_node
from tests.harness.requirements import require_root_and_tools
from tests.integration.identity_helpers import add_unix_users
from tests.integration.l3_helpers import make_net

UNIX_USERS = ("alice", "bob", "carol")
QUOTA_ERROR_EXIT = 5
FORBIDDEN_EXIT = 8


@pytest.fixture(scope="module")
def lab() -> Iterator[Node]:
    """A node of this module's own: its quotas and users must not leak into other tests."""
    require_root_and_tools()
    node = start_node("identity")
    try:
        add_unix_users(node, UNIX_USERS)
        node.labcloud("init")
        node.labcloud("image", "create", "tiny", "--builtin")
        node.labcloud("project", "create", "lab2", "--description", "the second team")
        node.labcloud("user", "create", "alice", "--project", "demo", "--role", "member")
        node.labcloud("user", "create", "bob", "--project", "lab2", "--role", "member")
        node.labcloud("user", "create", "carol", "--project", "demo", "--role", "reader")
        yield node
    finally:
        node.stop()


def as_user(
    lab: Node, user: str | None, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return lab.labcloud(*args, check=check, env={"SUDO_USER": user} if user else None)


def names(lab: Node, user: str | None, *args: str) -> set[str]:
    rows = json.loads(as_user(lab, user, *args, "-f", "json").stdout)
    return {row["Name"] for row in rows}


def refused(proc: subprocess.CompletedProcess[str], exit_code: int, *words: str) -> None:
    assert proc.returncode == exit_code, proc.stdout + proc.stderr
    message = proc.stderr.strip()
    assert message.count("\n") == 0, message  # one line
    for word in words:
        assert word in message, message


def test_members_of_two_projects_cannot_see_or_touch_each_other(lab: Node) -> None:
    for user, tag in (("alice", "a"), ("bob", "b")):
        as_user(lab, user, "network", "create", f"{tag}net")
        as_user(lab, user, "volume", "create", f"{tag}vol", "--size", "1")
        as_user(lab, user, "server", "create", f"{tag}1", "--image", "tiny", "--flavor", "m1.nano")
    try:
        # Each member sees their own project's resources and nothing of the other's.
        assert names(lab, "alice", "server", "list") == {"a1"}
        assert names(lab, "bob", "server", "list") == {"b1"}
        assert "bnet" not in names(lab, "alice", "network", "list")
        assert names(lab, "alice", "volume", "list") == {"avol"}
        assert names(lab, "bob", "volume", "list") == {"bvol"}
        # bob's server is not there for alice, and his project is closed to her.
        refused(as_user(lab, "alice", "server", "delete", "b1", check=False), 3, "b1")
        refused(
            as_user(lab, "alice", "server", "list", "--project", "lab2", check=False),
            FORBIDDEN_EXIT,
            "alice has no role in project 'lab2'",
        )
        refused(
            as_user(lab, "alice", "volume", "delete", "bvol", "--project", "lab2", check=False),
            FORBIDDEN_EXIT,
            "lab2",
        )
        assert names(lab, "bob", "server", "list") == {"b1"}  # still there

        # A reader sees the project but cannot change it; the refusal names the role.
        assert names(lab, "carol", "server", "list") == {"a1"}
        refused(
            as_user(
                lab,
                "carol",
                "server",
                "create",
                "c1",
                "--image",
                "tiny",
                "--flavor",
                "m1.nano",
                check=False,
            ),
            FORBIDDEN_EXIT,
            "carol has the reader role in project 'demo'",
            "needs the member role",
        )
        refused(
            as_user(lab, "carol", "network", "create", "cnet", check=False),
            FORBIDDEN_EXIT,
            "member",
        )
        refused(
            as_user(lab, "carol", "server", "stop", "a1", check=False), FORBIDDEN_EXIT, "member"
        )
        # Members are not admins: no --all-projects, no new projects.
        refused(
            as_user(lab, "alice", "server", "list", "--all-projects", check=False),
            FORBIDDEN_EXIT,
            "admin role",
        )
        refused(
            as_user(lab, "alice", "project", "create", "mine", check=False),
            FORBIDDEN_EXIT,
            "admin role",
        )
        # An admin sees both projects at once.
        assert {"a1", "b1"} <= names(lab, None, "server", "list", "--all-projects")
        assert {"avol", "bvol"} <= names(lab, None, "volume", "list", "--all-projects")
        assert {"anet", "bnet"} <= names(lab, None, "network", "list", "--all-projects")
        # Events name only what a member may see.
        events = json.loads(as_user(lab, "alice", "event", "list", "-f", "json").stdout)
        seen = {e["Name"] for e in events}
        assert "a1" in seen and "b1" not in seen and "bvol" not in seen
        # Each project's usage counts its own.
        usage = json.loads(as_user(lab, "alice", "usage", "-f", "json").stdout)
        assert (usage["project"], usage["servers"], usage["volumes"]) == ("demo", 1, 1)
    finally:
        for user, tag in (("alice", "a"), ("bob", "b")):
            as_user(lab, user, "server", "delete", f"{tag}1", check=False)
            as_user(lab, user, "volume", "delete", f"{tag}vol", check=False)
            as_user(lab, user, "network", "delete", f"{tag}net", check=False)


def test_the_current_project_is_the_users_last_choice(lab: Node) -> None:
    # alice has no role in the lab's default project (admin): she lands in hers.
    assert json.loads(as_user(lab, "alice", "usage", "-f", "json").stdout)["project"] == "demo"
    lab.labcloud("role", "add", "--user", "alice", "--project", "lab2", "reader")
    try:
        as_user(lab, "alice", "project", "use", "lab2")
        assert json.loads(as_user(lab, "alice", "usage", "-f", "json").stdout)["project"] == "lab2"
        # --project and $LABCLOUD_PROJECT still win over the remembered choice.
        shown = as_user(lab, "alice", "usage", "--project", "demo", "-f", "json").stdout
        assert json.loads(shown)["project"] == "demo"
        env = {"SUDO_USER": "alice", "LABCLOUD_PROJECT": "demo"}
        assert json.loads(lab.labcloud("usage", "-f", "json", env=env).stdout)["project"] == "demo"
        # Only the projects she has a role in are listed.
        assert names(lab, "alice", "project", "list") == {"demo", "lab2"}
    finally:
        as_user(lab, "alice", "project", "use", "demo")
        lab.labcloud("role", "remove", "--user", "alice", "--project", "lab2", "reader")


# Runs in the node: each attempt in turn, as fast as it can; prints [exit code, stderr]s.
RACER = """
import json, subprocess, sys
out = []
for argv in json.loads(sys.argv[1]):
    done = subprocess.run(argv, capture_output=True, text=True)
    out.append([done.returncode, done.stderr])
print(json.dumps(out))
"""


def _race(lab: Node, user: str, per_process: int, *create: str) -> list[tuple[int, str]]:
    """4 processes at once, each running `create` per_process times ({p} and {i} in an
    argument become the process and attempt numbers, so names never collide)."""
    procs = []
    for p in range(4):
        attempts = [
            [str(LABCLOUD_BIN), *(a.format(p=p, i=i) for a in create)] for i in range(per_process)
        ]
        procs.append(
            lab.popen(
                ["python3", "-c", RACER, json.dumps(attempts)],
                env={"LABCLOUD_LAB": str(lab.lab_file), "SUDO_USER": user},
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    results: list[tuple[int, str]] = []
    for proc in procs:
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, out  # the racer itself never died
        finished = json.loads(out)
        assert len(finished) == per_process  # every attempt ran to an exit code
        results += [(code, err) for code, err in finished]
    return results


def _check_race(results: list[tuple[int, str]], allowed: int, resource: str) -> None:
    ok = [r for r in results if r[0] == 0]
    refusals = [r for r in results if r[0] != 0]
    assert len(ok) == allowed, results
    for code, err in refusals:
        assert code == QUOTA_ERROR_EXIT, err
        assert f"quota exceeded for {resource}" in err and "Traceback" not in err, err


def test_racing_server_creates_never_overshoot_the_instance_quota(lab: Node) -> None:
    lab.labcloud("quota", "set", "demo", "--instances", "5")
    try:
        results = _race(
            lab,
            "alice",
            3,
            "server",
            "create",
            "r{p}-{i}",
            "--image",
            "tiny",
            "--flavor",
            "m1.nano",
        )
        _check_race(results, 5, "instances")
        assert len(names(lab, "alice", "server", "list")) == 5
        quota = json.loads(lab.labcloud("quota", "show", "demo", "-f", "json").stdout)
        instances = next(q for q in quota if q["Resource"] == "instances")
        assert (instances["Limit"], instances["In use"]) == (5, 5)
    finally:
        for name in names(lab, "alice", "server", "list"):
            as_user(lab, "alice", "server", "delete", name, check=False)
        lab.labcloud("quota", "set", "demo", "--instances", "10")


def test_racing_server_creates_never_overshoot_the_cores_quota(lab: Node) -> None:
    lab.labcloud("flavor", "create", "c2.nano", "--vcpus", "2", "--ram", "128", "--disk", "1")
    lab.labcloud("quota", "set", "demo", "--cores", "5")
    try:
        results = _race(
            lab,
            "alice",
            2,
            "server",
            "create",
            "c{p}-{i}",
            "--image",
            "tiny",
            "--flavor",
            "c2.nano",
        )
        _check_race(results, 2, "cores")  # 2 x 2 vCPUs fit in 5; a third would need 6
        usage = json.loads(as_user(lab, "alice", "usage", "-f", "json").stdout)
        assert usage["vcpus"] == 4
    finally:
        for name in names(lab, "alice", "server", "list"):
            as_user(lab, "alice", "server", "delete", name, check=False)
        lab.labcloud("quota", "set", "demo", "--cores", "20")
        lab.labcloud("flavor", "delete", "c2.nano", check=False)


def test_racing_floating_ip_creates_never_overshoot_the_quota(lab: Node) -> None:
    make_net(lab, "idpublic", "203.0.113.0/24", external=True)
    lab.labcloud("quota", "set", "demo", "--floating-ips", "5")
    try:
        results = _race(lab, "alice", 3, "floating", "ip", "create", "idpublic")
        _check_race(results, 5, "floating_ips")
        fips = json.loads(as_user(lab, "alice", "floating", "ip", "list", "-f", "json").stdout)
        assert len(fips) == 5
    finally:
        fips = json.loads(as_user(lab, "alice", "floating", "ip", "list", "-f", "json").stdout)
        for fip in fips:
            as_user(lab, "alice", "floating", "ip", "delete", fip["ID"], check=False)
        lab.labcloud("quota", "set", "demo", "--floating-ips", "50")
        lab.labcloud("network", "delete", "idpublic", check=False)


def test_a_resize_counts_only_the_difference(lab: Node) -> None:
    for name, vcpus in (("c2.nano", "2"), ("c3.nano", "3")):
        lab.labcloud("flavor", "create", name, "--vcpus", vcpus, "--ram", "128", "--disk", "1")
    lab.labcloud("quota", "set", "demo", "--cores", "2")
    try:
        as_user(lab, "alice", "server", "create", "grow", "--image", "tiny", "--flavor", "m1.nano")
        # 1 core in use; to 3 vCPUs is 2 more, and 1 + 2 > 2.
        refused(
            as_user(lab, "alice", "server", "resize", "grow", "--flavor", "c3.nano", check=False),
            QUOTA_ERROR_EXIT,
            "quota exceeded for cores",
        )
        shown = json.loads(as_user(lab, "alice", "server", "show", "grow", "-f", "json").stdout)
        assert (shown["flavor"], shown["status"]) == ("m1.nano", "ACTIVE")  # untouched
        # To 2 vCPUs: the whole flavor (2) plus what is in use (1) would not fit; the
        # difference (1) does.
        as_user(lab, "alice", "server", "resize", "grow", "--flavor", "c2.nano")
        assert json.loads(as_user(lab, "alice", "usage", "-f", "json").stdout)["vcpus"] == 2
    finally:
        as_user(lab, "alice", "server", "delete", "grow", check=False)
        lab.labcloud("quota", "set", "demo", "--cores", "20")
        for name in ("c2.nano", "c3.nano"):
            lab.labcloud("flavor", "delete", name, check=False)


def test_a_volume_extend_counts_only_the_difference(lab: Node) -> None:
    lab.labcloud("quota", "set", "demo", "--gigabytes", "3")
    try:
        as_user(lab, "alice", "volume", "create", "qv", "--size", "2")
        as_user(lab, "alice", "volume", "set", "qv", "--size", "3")  # +1 fits exactly
        refused(
            as_user(lab, "alice", "volume", "set", "qv", "--size", "4", check=False),
            QUOTA_ERROR_EXIT,
            "quota exceeded for gigabytes",
            "3 of 3 used",
        )
        refused(
            as_user(lab, "alice", "volume", "create", "qv2", "--size", "1", check=False),
            QUOTA_ERROR_EXIT,
            "gigabytes",
        )
        assert names(lab, "alice", "volume", "list") == {"qv"}  # nothing half-made
    finally:
        as_user(lab, "alice", "volume", "delete", "qv", check=False)
        lab.labcloud("quota", "set", "demo", "--gigabytes", "1000")


def test_a_project_that_holds_resources_cannot_be_deleted(lab: Node) -> None:
    lab.labcloud("project", "create", "doomed")
    lab.labcloud("network", "create", "dnet", "--project", "doomed")
    lab.labcloud("volume", "create", "dvol", "--size", "1", "--project", "doomed")
    proc = lab.labcloud("project", "delete", "doomed", check=False)
    refused(proc, 4, "1 network (dnet)", "1 volume (dvol)")
    assert "doomed" in names(lab, None, "project", "list")
    lab.labcloud("volume", "delete", "dvol", "--project", "doomed")
    lab.labcloud("network", "delete", "dnet", "--project", "doomed")
    lab.labcloud("project", "delete", "doomed")
    assert "doomed" not in names(lab, None, "project", "list")


def test_bad_identity_and_quota_input_gets_a_clear_error(lab: Node) -> None:
    cases = [
        (("quota", "show", "nosuch"), 3, "no project named or with ID 'nosuch'"),
        (("role", "add", "--user", "mallory", "--project", "demo", "member"), 3, "mallory"),
        (("role", "add", "--user", "bob", "--project", "demo", "mmber"), 2, "did you mean member"),
        (("quota", "set", "demo", "--cores", "-5"), 2, "-1 (unlimited) or at least 0"),
        (("quota", "set", "demo", "--cores", "many"), 2, "'many' is not a whole number"),
        (("user", "create", "nobody-here"), 3, "no unix account 'nobody-here'"),
        (("project", "create", "bad name"), 2, "invalid project name"),
        (("project", "delete", "admin"), 4, "cannot be deleted"),
    ]
    for args, code, words in cases:
        refused(lab.labcloud(*args, check=False), code, words)
    # A unix user who is not a labcloud user is told how to become one.
    refused(
        lab.labcloud("server", "list", check=False, env={"SUDO_USER": "daemon"}),
        FORBIDDEN_EXIT,
        "'daemon' is not a labcloud user",
        "user create daemon",
    )


def test_a_quota_below_usage_is_allowed_and_reported(lab: Node) -> None:
    as_user(lab, "alice", "network", "create", "qnet1")
    as_user(lab, "alice", "network", "create", "qnet2")
    try:
        proc = lab.labcloud("quota", "set", "demo", "--networks", "1")
        assert "networks is now limited to 1 but 2 are in use" in proc.stderr
        assert "(OVER)" in proc.stdout
        refused(
            as_user(lab, "alice", "network", "create", "qnet3", check=False),
            QUOTA_ERROR_EXIT,
            "quota exceeded for networks",
        )
    finally:
        lab.labcloud("quota", "set", "demo", "--networks", "100")
        for net in ("qnet1", "qnet2", "qnet3"):
            as_user(lab, "alice", "network", "delete", net, check=False)
