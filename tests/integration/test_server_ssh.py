"""`labcloud server ssh` for real: the tiny guest runs an SSH server (the host's dropbear,
backends/guest_sshd.py), the user's keypair reaches it through cloud-init, and a machine
on the server's network runs a command in the guest over SSH."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from labcloud.backends.guest_sshd import DROPBEAR

from tests.harness import Node
from tests.integration.l3_helpers import make_net, netns_host

CLIENT_IP = "10.79.0.250"


@pytest.fixture
def made(lab: Node) -> Iterator[list[tuple[str, ...]]]:
    """labcloud delete commands for what the test made, run in reverse whatever happened."""
    things: list[tuple[str, ...]] = []
    yield things
    for argv in reversed(things):
        lab.labcloud(*argv, check=False)


def test_server_ssh_runs_a_command_in_the_guest(
    lab: Node, tmp_path: Path, made: list[tuple[str, ...]]
) -> None:
    if not DROPBEAR.is_file():  # scripts/setup.sh installs it
        reason = f"{DROPBEAR} is missing: install the Debian package dropbear-bin"
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    bridge = make_net(lab, "ssh-net", "10.79.0.0/24")
    made += [("network", "delete", "ssh-net")]
    key = tmp_path / "id_ssh"
    lab.labcloud("keypair", "create", "ssh-key", "--private-key", str(key))
    made += [("keypair", "delete", "ssh-key")]
    lab.labcloud("security", "group", "create", "ssh-in")
    made += [("security", "group", "delete", "ssh-in")]
    lab.labcloud("security", "group", "rule", "create", "ssh-in", "--protocol", "tcp",
                 "--dst-port", "22")  # fmt: skip
    lab.labcloud(
        "server", "create", "sshd1", "--image", "tiny", "--flavor", "m1.nano",
        "--network", "ssh-net", "--key-name", "ssh-key", "--security-group", "ssh-in",
        "--wait",
    )  # fmt: skip
    made += [("server", "delete", "sshd1")]
    server_id = lab.labcloud("server", "show", "sshd1", "-f", "value", "-c", "id").stdout.strip()
    log = lab.labcloud(
        "console", "log", "sshd1", "--wait-for", "labcloud-tiny: ready", "--timeout", "120"
    ).stdout
    assert "labcloud-tiny: cloud-init ssh-keys 1" in log
    assert "labcloud-tiny: sshd dropbear port 22" in log

    # A machine on the server's network (a namespace on its bridge) runs the user's command.
    client = netns_host(lab, "ssh-client", "sshc0", bridge, f"{CLIENT_IP}/24")
    try:
        out = lab.run(
            [
                *("ip", "netns", "exec", client.netns),
                *("labcloud", "server", "ssh", "-i", str(key), "-o", "BatchMode=yes"),
                *("-o", "ConnectTimeout=20", "sshd1", "--", "uname", "-n"),
            ],
            check=False,
            timeout=120,
        )
    finally:
        client.remove()
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "sshd1"  # the guest's hostname, from inside the guest
    # The guest's own host key (made at first use) is remembered under the server's alias.
    found = subprocess.run(
        ["ssh-keygen", "-F", f"labcloud-{server_id}", "-f", str(lab.state_dir / "ssh_known_hosts")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.returncode == 0 and "ssh-ed25519" in found.stdout, found
