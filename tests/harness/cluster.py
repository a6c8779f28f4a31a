"""Several harness nodes as one lab: each runs its own sshd, all joined by a management
network (a bridge inside the hub node, a veth from it to every other node).

Everything lives in the nodes' namespaces: the bridge, the veths and sshd. sshd has a
host key made for the node and accepts root by key only, as a real compute node would.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.harness.node import LIBVIRTD, Node, NodeCommandError, _read_pid, _signal_all, start_node

MGMT_BRIDGE = "mgmt0"  # no "lc" prefix: labcloud's agents must not treat it as theirs
SSHD = "/usr/sbin/sshd"

SSHD_CONFIG = """\
ListenAddress {listen}
Port 22
HostKey {host_key}
PidFile /run/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile {authorized_keys}
StrictModes no
UsePAM no
X11Forwarding no
PrintMotd no
AcceptEnv LANG LC_*
"""


@dataclass
class SshNode:
    """A node with its sshd: where to reach it and the fingerprint an admin would check."""

    node: Node
    address: str  # on the management network
    fingerprint: str  # SHA256:... of its host key

    @property
    def name(self) -> str:
        return self.node.name


def client_key(directory: Path) -> Path:
    """An ed25519 key pair for labcloud to log in with (private key path returned)."""
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / "id_ed25519"
    if not key.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "labcloud", "-f", str(key)],
            check=True,
        )
    return key


def _fingerprint(pub: Path) -> str:
    out = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(pub)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()[1]


def new_host_key(node: Node) -> str:
    """(Re)generate the node's host key, as a reinstall would; returns its fingerprint."""
    ssh_dir = node.workdir / "ssh"
    ssh_dir.mkdir(exist_ok=True)
    key = ssh_dir / "ssh_host_ed25519_key"
    for path in (key, key.with_suffix(".pub")):
        path.unlink(missing_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", node.name, "-f", str(key)],
        check=True,
    )
    return _fingerprint(key.with_suffix(".pub"))


def start_sshd(node: Node, address: str, authorized_key: Path) -> SshNode:
    """sshd inside the node, listening on its management address only."""
    ssh_dir = node.workdir / "ssh"
    key = ssh_dir / "ssh_host_ed25519_key"
    fingerprint = _fingerprint(key.with_suffix(".pub")) if key.exists() else new_host_key(node)
    authorized = ssh_dir / "authorized_keys"
    authorized.write_text(authorized_key.with_suffix(".pub").read_text())
    config = ssh_dir / "sshd_config"
    config.write_text(SSHD_CONFIG.format(listen=address, host_key=key, authorized_keys=authorized))
    node.run(["mkdir", "-p", "/run/sshd"])  # privilege separation dir, in the node's /run
    node.run([SSHD, "-t", "-f", str(config)])
    node.run([SSHD, "-f", str(config), "-E", str(ssh_dir / "sshd.log")])
    return SshNode(node, address, fingerprint)


def sshd_pids(node: Node) -> set[int]:
    """The node's sshd listener and its per-connection children."""
    main = _read_pid(node.workdir / "run" / "sshd.pid")
    pids: set[int] = set()
    out = node.run(["ps", "-e", "-o", "pid=,ppid=,comm="], check=False).stdout
    rows = [line.split(None, 2) for line in out.splitlines() if line.strip()]
    for pid, _ppid, comm in rows:
        if comm.startswith("sshd") and _in_node(node, int(pid)):
            pids.add(int(pid))
    if main:
        pids.add(main)
    return pids


def _in_node(node: Node, pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/ns/net").readlink() == Path(node.netns)
    except OSError:
        return False


def kill_sshd(node: Node) -> None:
    """Stop the node's sshd and every session it serves (only processes in the node)."""
    _signal_all(sshd_pids(node), {node.netns}, 2.0)


def kill_libvirtd(node: Node) -> None:
    pid = node.libvirtd_pid
    if pid:
        _signal_all({pid}, {node.netns, node.mntns}, 5.0)


def restart_sshd(ssh: SshNode) -> None:
    config = ssh.node.workdir / "ssh" / "sshd_config"
    ssh.node.run([SSHD, "-f", str(config), "-E", str(ssh.node.workdir / "ssh" / "sshd.log")])


def join_management(hub: Node, hub_address: str, members: list[tuple[Node, str]]) -> None:
    """A bridge in `hub` with `hub_address`, and a veth from it to each member.

    Addresses are address/prefix. Each veth is made in the hub and its far end moved into
    the member's namespace by the holder's PID, so the host's namespace is never touched.
    """
    hub.run(["ip", "link", "add", MGMT_BRIDGE, "type", "bridge"])
    hub.run(["ip", "addr", "add", hub_address, "dev", MGMT_BRIDGE])
    hub.run(["ip", "link", "set", MGMT_BRIDGE, "up"])
    for member, address in members:
        near, far = f"mg-{member.name}"[:15], "mgmt1"
        veth = ["type", "veth", "peer", "name", far, "netns", str(member.pid)]
        hub.run(["ip", "link", "add", near, *veth])
        hub.run(["ip", "link", "set", near, "master", MGMT_BRIDGE, "up"])
        member.run(["ip", "addr", "add", address, "dev", far])
        member.run(["ip", "link", "set", far, "up"])


def wait_port_closed(node: Node, address: str) -> None:
    """Assert nothing listens on address:22 any more (sshd is really gone)."""
    out = node.run(["ss", "-Hltn", f"src {address}:22"], check=False).stdout
    if out.strip():
        raise NodeCommandError(f"[{node.name}] sshd still listens: {out}")


def private_storage(node: Node, path: Path) -> Path:
    """Give the node its own empty directory at `path` (a bind mount in its mount
    namespace only): it no longer sees what another node keeps there."""
    private = node.workdir / "private-storage"
    private.mkdir(exist_ok=True)
    node.run(["mount", "--bind", str(private), str(path)])
    return private


def restart_libvirtd(node: Node) -> None:
    """Start the node's libvirtd again, as the holder did (after kill_libvirtd)."""
    conf, pidfile = "/etc/libvirt/libvirtd.conf", "/run/libvirtd.pid"
    node.run([LIBVIRTD, "--daemon", "--config", conf, "--pid-file", pidfile])


@contextlib.contextmanager
def running_cluster(
    control_name: str,
    node_names: list[str],
    subnet: str,
    control_lab: str,
    private: tuple[str, ...] = (),
) -> Iterator[tuple[Node, dict[str, SshNode], Path]]:
    """A control node and nodes with sshd on a management network SUBNET.0/24 (the control
    at .1, the nodes from .11), a labcloud lab with the tiny image on the control, and the
    nodes in `private` on a state_dir of their own. Everything is stopped at the end."""
    started: list[Node] = []
    try:
        control = start_node(control_name, lab_extra=control_lab)
        started.append(control)
        members = []
        for i, name in enumerate(node_names, 1):
            started.append(start_node(name))
            members.append((started[-1], f"{subnet}.{10 + i}/24"))
        join_management(control, f"{subnet}.1/24", members)
        key = client_key(control.workdir / "ssh-client")
        nodes = {node.name: start_sshd(node, addr.split("/")[0], key) for node, addr in members}
        for name in private:  # its own disk there: images and files reach it over SSH
            private_storage(nodes[name].node, control.state_dir)
        control.labcloud("init")
        control.labcloud("image", "create", "tiny", "--builtin")
        yield control, nodes, key
    finally:
        for node in reversed(started):
            node.stop()


def enrol_all(control: Node, nodes: dict[str, SshNode], key: Path) -> None:
    """`node add` every node, trusting the fingerprint its sshd was given."""
    for name, ssh in nodes.items():
        control.labcloud(
            "node", "add", name, "--host", ssh.address, "--key", str(key),
            "--trust-fingerprint", ssh.fingerprint,
        )  # fmt: skip
