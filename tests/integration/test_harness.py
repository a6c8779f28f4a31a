"""The harness itself: a node is isolated, has its own libvirtd, and leaves nothing."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.harness.node import BINDS, URI, Node, start_node

REPO = Path(__file__).resolve().parents[2]

# A guest with no disk and no network: enough for libvirt to define and run it.
TINY_DOMAIN = """\
<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>16</memory>
  <os><type arch='x86_64'>hvm</type></os>
</domain>
"""


def host_links() -> str:
    return subprocess.run(["ip", "-br", "link"], capture_output=True, text=True, check=True).stdout


def link_names(ip_br_link: str) -> set[str]:
    return {line.split()[0].split("@")[0] for line in ip_br_link.splitlines() if line.strip()}


def pidfd(pid: int) -> int:
    return os.pidfd_open(pid)


def exited(fd: int, timeout: float = 0.0) -> bool:
    """A pidfd is readable once its process has exited."""
    return bool(select.select([fd], [], [], timeout)[0])


def virsh_names(node: Node, *args: str) -> list[str]:
    return node.run(["virsh", "-c", URI, *args, "--name"]).stdout.split()


def test_node_has_its_own_network_and_mount_namespaces(node: Node) -> None:
    for kind in ("net", "mnt"):
        inside = node.run(["stat", "-L", "-c", "%i", f"/proc/self/ns/{kind}"]).stdout.strip()
        outside = os.stat(f"/proc/self/ns/{kind}").st_ino
        assert inside.isdigit() and int(inside) != outside, kind
    # Only a loopback, and it is up.
    links = node.run(["ip", "-br", "link"]).stdout
    assert link_names(links) == {"lo"}
    assert "UP" in links


def test_libvirtd_answers_inside_with_no_domains_and_no_networks(node: Node) -> None:
    assert node.run(["virsh", "-c", URI, "list", "--all"]).returncode == 0
    assert virsh_names(node, "list", "--all") == []
    # The host's default network is not there, let alone autostarted.
    assert virsh_names(node, "net-list", "--all") == []


def test_bridge_made_inside_is_invisible_on_the_host(fresh_node: Node) -> None:
    before = host_links()
    fresh_node.run(["ip", "link", "add", "br-test", "type", "bridge"])
    fresh_node.run(["ip", "link", "set", "br-test", "up"])
    assert "br-test" in link_names(fresh_node.run(["ip", "-br", "link"]).stdout)
    # The node's own sysfs shows the node's links, as `ip netns exec` would.
    assert fresh_node.run(["test", "-d", "/sys/class/net/br-test/bridge"]).returncode == 0
    after = host_links()
    assert "br-test" not in link_names(after)
    assert link_names(after) == link_names(before)


def test_private_libvirt_dirs_are_the_nodes_own(node: Node) -> None:
    marker = "/var/lib/libvirt/images/harness-marker"
    node.run(["sh", "-c", f"echo hello > {marker}"])
    assert (node.workdir / "var-lib-libvirt/images/harness-marker").read_text() == "hello\n"
    assert not Path(marker).exists()
    conf = node.run(["cat", "/etc/libvirt/qemu.conf"]).stdout
    assert 'security_driver = "none"' in conf
    sock = node.workdir / "run/libvirt/libvirt-sock"
    assert sock.is_socket()
    # The node's mounts stay in the node: none of them shows on the host.
    with open("/proc/self/mountinfo") as f:
        host_points = {line.split()[4] for line in f}
    assert not host_points & set(BINDS.values())
    inside = node.run(["findmnt", "-n", "-o", "TARGET", "/etc/libvirt"]).stdout.strip()
    assert inside == "/etc/libvirt"


def test_two_nodes_have_separate_libvirtds(node: Node, fresh_node: Node) -> None:
    assert node.libvirtd_pid and fresh_node.libvirtd_pid
    assert node.libvirtd_pid != fresh_node.libvirtd_pid
    fresh_node.run(
        ["virsh", "-c", URI, "define", "/dev/stdin"], input=TINY_DOMAIN.format(name="t1")
    )
    assert virsh_names(fresh_node, "list", "--all") == ["t1"]
    assert virsh_names(node, "list", "--all") == []


def test_stop_ends_guests_daemons_and_programs_and_removes_the_workdir() -> None:
    n = start_node("stopme")
    try:
        n.run(["virsh", "-c", URI, "define", "/dev/stdin"], input=TINY_DOMAIN.format(name="g1"))
        n.run(["virsh", "-c", URI, "start", "g1"])
        qemu = int((n.workdir / "run/libvirt/qemu/g1.pid").read_text())
        sleeper = n.popen(["sleep", "600"], stdout=subprocess.DEVNULL)
        assert n.libvirtd_pid and n.virtlogd_pid
        fds = {
            name: pidfd(pid)
            for name, pid in {
                "holder": n.pid,
                "libvirtd": n.libvirtd_pid,
                "virtlogd": n.virtlogd_pid,
                "qemu": qemu,
                "sleep": sleeper.pid,
            }.items()
        }
    except BaseException:
        n.stop()
        raise
    n.stop()
    n.stop()  # idempotent
    try:
        assert sleeper.wait(5) == -signal.SIGTERM
        alive = [name for name, fd in fds.items() if not exited(fd, 5.0)]
        assert alive == []
        assert not n.workdir.exists()
    finally:
        for fd in fds.values():
            os.close(fd)


def test_holder_cleans_up_when_the_harness_is_killed() -> None:
    script = (
        "import json, sys, time\n"
        "from tests.harness.node import start_node\n"
        "n = start_node('orphan')\n"
        "print(json.dumps([n.pid, n.libvirtd_pid, n.virtlogd_pid, str(n.workdir)]), flush=True)\n"
        "time.sleep(600)\n"
    )
    harness = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert harness.stdout is not None
        holder, libvirtd, virtlogd, workdir = json.loads(harness.stdout.readline())
        fds = [pidfd(holder), pidfd(libvirtd), pidfd(virtlogd)]
    finally:
        harness.kill()  # no chance to stop its node: the holder must see EOF and clean up
        harness.wait()
    try:
        assert all(exited(fd, 20.0) for fd in fds)
        assert not Path(workdir).exists()
    finally:
        for fd in fds:
            os.close(fd)


def test_lab_file_is_a_valid_lab_toml_with_the_extra_appended() -> None:
    extra = '[[flavors]]\nname = "x1.test"\nvcpus = 1\nram = 64\ndisk = 0\n'
    n = start_node("labfile", lab_extra=extra)
    try:
        data = tomllib.loads(n.lab_file.read_text())
        assert data["site"] == {
            "state_dir": str(n.state_dir),
            "libvirt_uri": "qemu:///system",
            "virt_type": "auto",
        }
        assert data["flavors"][0]["name"] == "x1.test"
        assert n.state_dir == n.workdir / "state" and n.state_dir.is_dir()
        # Commands in the node find the lab file and the venv's programs.
        env = n.run(["sh", "-c", 'echo "$LABCLOUD_LAB"; command -v labcloud']).stdout.split()
        assert env == [str(n.lab_file), str(Path(sys.executable).parent / "labcloud")]
    finally:
        n.stop()


def test_failed_command_reports_argv_status_and_output(node: Node) -> None:
    argv = ["sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"]
    with pytest.raises(AssertionError) as info:
        node.run(argv)
    message = str(info.value)
    for text in (repr(argv), "exited 3", "to-stdout", "to-stderr"):
        assert text in message
    assert node.run(argv, check=False).returncode == 3


def test_run_command_runs_in_a_fresh_node_and_returns_its_status() -> None:
    before = host_links()
    proc = subprocess.run(
        [sys.executable, "-m", "tests.harness", "run", "--", "sh", "-c", "ip -br link; exit 7"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 7, proc.stderr
    assert link_names(proc.stdout) == {"lo"}
    assert host_links() == before
