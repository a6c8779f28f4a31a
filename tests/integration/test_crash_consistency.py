"""Kill a real `labcloud` with SIGKILL at every journalled step of create and delete. The next
start finishes or rolls the operation back: no orphaned domain, disk or row, and the store
agrees with libvirt."""

from __future__ import annotations

import json
import signal

import pytest

from labcloud.services.core import FAULT_ENV
from tests.harness import Node
from tests.harness.node import LABCLOUD_BIN


def labcloud_killed_at(lab: Node, fault: str, *args: str) -> None:
    out = lab.run([str(LABCLOUD_BIN), *args], check=False, env={FAULT_ENV: fault})
    assert out.returncode == -signal.SIGKILL, (fault, out.returncode, out.stderr)


def assert_store_agrees_with_libvirt(lab: Node) -> dict[str, str]:
    """After recovery (which `server list` runs at start): servers == domains == disks."""
    rows = json.loads(lab.labcloud("server", "list", "-f", "json").stdout)
    servers = {r["ID"]: r["Status"] for r in rows}
    names = lab.run(["virsh", "-c", "qemu:///system", "list", "--all", "--name"]).stdout.split()
    domains = {n.removeprefix("labcloud-") for n in names if n.startswith("labcloud-")}
    instances = lab.state_dir / "instances"
    disks = {p.name for p in instances.iterdir()} if instances.exists() else set()
    assert set(servers) == domains == disks
    doctor = json.loads(lab.labcloud("doctor", "-f", "json").stdout)
    assert doctor == []
    return servers


@pytest.mark.parametrize("step", ["disk", "plug", "define", "start", "finish"])
def test_create_killed_at_each_step(lab: Node, step: str) -> None:
    name = f"crash-{step}"
    labcloud_killed_at(
        lab,
        f"server.create:{step}",
        "server",
        "create",
        name,
        "--image",
        "tiny",
        "--flavor",
        "m1.nano",
    )
    assert_store_agrees_with_libvirt(lab)
    shown = lab.labcloud("server", "show", name, "-f", "json", check=False)
    if step == "finish":
        # The domain was already running: the create is finished, not undone.
        assert json.loads(shown.stdout)["status"] == "ACTIVE"
        lab.labcloud("server", "delete", name)
    else:
        assert shown.returncode != 0, f"a server {name} survived a crash before it started"
        events = lab.labcloud("event", "list", "-f", "json").stdout
        assert f"interrupted at step {step}" in events
    assert_store_agrees_with_libvirt(lab)


@pytest.mark.parametrize("step", ["destroy", "undefine", "unplug", "remove-disk", "finish"])
def test_delete_killed_at_each_step_is_finished_by_the_next_start(lab: Node, step: str) -> None:
    name = f"del-{step}"
    lab.labcloud("server", "create", name, "--image", "tiny", "--flavor", "m1.nano")
    labcloud_killed_at(lab, f"server.delete:{step}", "server", "delete", name)
    servers = assert_store_agrees_with_libvirt(lab)
    assert servers == {}
    assert lab.labcloud("server", "show", name, check=False).returncode != 0
