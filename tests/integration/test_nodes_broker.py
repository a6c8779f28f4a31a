"""The node broker: one long-lived process per lab keeps each node's SSH and libvirt
connections, answers commands over a private socket, keeps a heartbeat per node and
listens to every node's libvirt events.

The story: an admin enrols two nodes and starts a server on node1. Later `server list`
calls log in to no node at all (node1's sshd log says so). A domain stopped behind
labcloud's back on node1 shows up in the store by itself, and a front end watching the
lab hears node1's events. When node1's sshd and libvirtd die, it is marked down, and its
server UNKNOWN, within seconds and with no command run; once they are back it is up again.
"""

from __future__ import annotations

import json
import select
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.harness import Node
from tests.harness.cluster import (
    SshNode,
    enrol_all,
    kill_libvirtd,
    kill_sshd,
    restart_libvirtd,
    restart_sshd,
    running_cluster,
)
from tests.harness.node import VENV_BIN

CONTROL_LAB = '[local_node]\nroles = ["control", "network"]\n'
NOTICE_WITHIN = 30.0  # a generous bound; the measured time is printed


@dataclass
class Lab2:
    control: Node
    nodes: dict[str, SshNode]
    web1_id: str


def _json(node: Node, *args: str, env: dict[str, str] | None = None) -> object:
    return json.loads(node.labcloud(*args, "-f", "json", env=env).stdout)


def _events(control: Node) -> list[str]:
    """`event list`: read from the store only, it talks to no node."""
    rows = _json(control, "event", "list", "--limit", "60")
    return [f"{r['Name']}: {r['Message']}" for r in rows]  # type: ignore[union-attr, index]


def _wait_event(control: Node, text: str) -> float:
    """Seconds until an event containing `text` is recorded (no other command is run)."""
    started = time.monotonic()
    while not any(text in e for e in _events(control)):
        assert time.monotonic() - started < NOTICE_WITHIN, _events(control)
        time.sleep(0.5)
    return time.monotonic() - started


def _logins(ssh: SshNode) -> int:
    log = (ssh.node.workdir / "ssh" / "sshd.log").read_text(errors="replace")
    return log.count("Accepted publickey")


@pytest.fixture(scope="module")
def lab2() -> Iterator[Lab2]:
    with running_cluster("bctl", ["bnode1", "bnode2"], "10.97.0", CONTROL_LAB) as made:
        control, nodes, key = made
        enrol_all(control, nodes, key)
        control.labcloud(
            "server", "create", "web1", "--image", "tiny", "--flavor", "m1.nano",
            "--node", "bnode1",
        )  # fmt: skip
        web1 = _json(control, "server", "show", "web1")
        yield Lab2(control, nodes, web1["id"])  # type: ignore[index]


def _broker_socket(control: Node) -> int:
    """The broker's socket mode, once it answers (enrolment started it)."""
    sock = control.state_dir / "broker.sock"
    deadline = time.monotonic() + NOTICE_WITHIN
    while not sock.exists():
        assert time.monotonic() < deadline, "no node broker started"
        time.sleep(0.2)
    return stat.S_IMODE(sock.stat().st_mode)


def test_server_list_asks_the_broker_and_logs_in_to_no_node(lab2: Lab2) -> None:
    control, node1 = lab2.control, lab2.nodes["bnode1"]
    assert _broker_socket(control) == 0o600
    _json(control, "server", "list")  # the broker's own connections are up by now
    before = _logins(node1)
    for _ in range(3):
        rows = _json(control, "server", "list")
        assert [(r["Name"], r["Status"]) for r in rows] == [("web1", "ACTIVE")]  # type: ignore[index, union-attr]
    assert _logins(node1) == before  # no SSH login: the broker answered
    # Without the broker, each list is one more SSH login on the node.
    _json(control, "server", "list", env={"LABCLOUD_NO_BROKER": "1"})
    assert _logins(node1) == before + 1


def test_a_domain_stopped_behind_labclouds_back_shows_up_by_itself(lab2: Lab2) -> None:
    control, node1 = lab2.control, lab2.nodes["bnode1"].node
    node1.virsh("destroy", f"labcloud-{lab2.web1_id}")  # not through labcloud
    took = _wait_event(control, "web1: ACTIVE -> SHUTOFF (changed outside labcloud)")
    print(f"the store showed web1 SHUTOFF {took:.1f} s after virsh destroy on bnode1")
    rows = _json(control, "server", "list")
    assert rows[0]["Status"] == "SHUTOFF"  # type: ignore[index]

    # A front end (as the TUI does) hears bnode1's lifecycle events through the lab.
    script = (
        "import sys\n"
        "from labcloud.lab import Lab\n"
        "lab = Lab.open()\n"
        "why = lab.changes.watch_domains(lambda u, s: print('event', u, s, flush=True))\n"
        "print('watching', why or 'all', flush=True)\n"
        "sys.stdin.read()\n"
    )
    watcher = control.popen(
        [str(VENV_BIN / "python"), "-c", script],
        stdin=-1,
        stdout=-1,
        stderr=-1,
        text=True,
    )
    try:
        assert _line(watcher, "watching") == "watching all"
        control.labcloud("server", "start", "web1")
        assert _line(watcher, f"event {lab2.web1_id}").endswith("running")
    finally:
        watcher.stdin.close()  # type: ignore[union-attr]
        watcher.wait(30)


def test_the_tui_shows_a_remote_domain_stopped_behind_labclouds_back(lab2: Lab2) -> None:
    control, ssh1 = lab2.control, lab2.nodes["bnode1"]
    behind_back = [
        "ssh", "-i", str(control.workdir / "ssh-client" / "id_ed25519"),
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        f"root@{ssh1.address}", "virsh", "-c", "qemu:///system",
        "destroy", f"labcloud-{lab2.web1_id}",
    ]  # fmt: skip
    out = control.run(
        [str(VENV_BIN / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/tui/in_cluster"],
        env={"LABCLOUD_TUI_IN_CLUSTER": "1", "LABCLOUD_TEST_BEHIND_BACK": json.dumps(behind_back)},
        check=False,
        timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    assert " passed" in out.stdout and "skipped" not in out.stdout, out.stdout[-2000:]
    control.labcloud("server", "start", "web1")  # as it was, for the next story


def _line(proc: object, prefix: str) -> str:
    out = proc.stdout  # type: ignore[attr-defined]
    deadline = time.monotonic() + NOTICE_WITHIN
    while time.monotonic() < deadline:
        if select.select([out], [], [], 1.0)[0]:
            line = out.readline()
            if not line:
                break
            if line.startswith(prefix):
                return line.strip()
    raise AssertionError(f"no line {prefix!r}: {proc.stderr.read()}")  # type: ignore[attr-defined]


def test_a_dead_node_is_marked_down_within_seconds_without_a_command(lab2: Lab2) -> None:
    control, ssh1 = lab2.control, lab2.nodes["bnode1"]
    kill_sshd(ssh1.node)
    kill_libvirtd(ssh1.node)
    took = _wait_event(control, "bnode1: up -> down")
    print(f"bnode1 marked down {took:.1f} s after its sshd and libvirtd were killed")
    assert any("web1: ACTIVE -> UNKNOWN (node bnode1 down)" in e for e in _events(control))
    nodes = {r["Name"]: r for r in _json(control, "node", "list")}  # type: ignore[union-attr]
    assert nodes["bnode1"]["State"] == "down" and nodes["bnode2"]["State"] == "up"
    assert _json(control, "server", "list")[0]["Status"] == "UNKNOWN"  # type: ignore[index]

    # Back again: the broker reconnects by itself, and web1 (its QEMU kept running) is ACTIVE.
    restart_libvirtd(ssh1.node)
    restart_sshd(ssh1)
    took = _wait_event(control, "bnode1: down -> up")
    print(f"bnode1 marked up {took:.1f} s after its daemons came back")
    assert any("web1: UNKNOWN -> ACTIVE (node bnode1 up)" in e for e in _events(control))
    assert _json(control, "server", "list")[0]["Status"] == "ACTIVE"  # type: ignore[index]
    control.labcloud("server", "delete", "web1")


def test_a_node_that_goes_silent_is_marked_down_and_back_up(lab2: Lab2) -> None:
    """No refusal, no reset: its management link goes down, as a pulled cable would."""
    control, node2 = lab2.control, lab2.nodes["bnode2"].node
    node2.run(["ip", "link", "set", "mgmt1", "down"])
    took = _wait_event(control, "bnode2: up -> down")
    print(f"silent bnode2 marked down {took:.1f} s after its link went down")
    node2.run(["ip", "link", "set", "mgmt1", "up"])
    took = _wait_event(control, "bnode2: down -> up")
    print(f"bnode2 marked up {took:.1f} s after its link came back")
    nodes = {r["Name"]: r["State"] for r in _json(control, "node", "list")}  # type: ignore[union-attr, index]
    assert nodes["bnode2"] == "up"
