"""Remote nodes over SSH: a control node drives three nodes, each its own namespace with
its own sshd and libvirtd, joined by a management network.

The story: an admin enrols the nodes (the pinned key is accepted, a wrong or changed one
refused), servers are spread over them, and when a node dies it is marked down, its
servers show UNKNOWN, operations on it fail fast and the other nodes keep working.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from labcloud.errors import EXIT_CODES
from labcloud.services.core import FAULT_ENV, dhcp_netns
from tests.harness import Node
from tests.harness.cluster import (
    SshNode,
    kill_libvirtd,
    kill_sshd,
    new_host_key,
    restart_sshd,
    running_cluster,
)
from tests.harness.node import LABCLOUD_BIN
from tests.integration.l3_helpers import http_get, server_ip

# The control node runs labcloud and the network role; servers go to the compute nodes.
CONTROL_LAB = (
    '[local_node]\nroles = ["control", "network"]\n'
    # VXLAN tunnels end on the management network; the control floods to every node.
    '[networks]\nlocal_ip = "10.99.0.1"\nvxlan_peers = ["10.99.0.11", "10.99.0.12", "10.99.0.13"]\n'
)
READY = r"labcloud-tiny: ready"


@dataclass
class Cluster:
    control: Node
    nodes: dict[str, SshNode]
    key: Path

    def add_args(self, name: str) -> list[str]:
        ssh = self.nodes[name]
        return ["node", "add", name, "--host", ssh.address, "--key", str(self.key)]

    def enrol(self, name: str) -> None:
        fingerprint = self.nodes[name].fingerprint
        self.control.labcloud(*self.add_args(name), "--trust-fingerprint", fingerprint)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    # node1 and node2 see the control's state_dir (shared instance storage, as with NFS);
    # node3 has its own disk there: images and files reach it over SSH.
    names = ["node1", "node2", "node3"]
    with running_cluster("ctl", names, "10.99.0", CONTROL_LAB, private=("node3",)) as made:
        yield Cluster(*made)


def _json(node: Node, *args: str) -> object:
    return json.loads(node.labcloud(*args, "-f", "json").stdout)


def _nodes(control: Node) -> dict[str, dict[str, object]]:
    return {row["Name"]: row for row in _json(control, "node", "list")}  # type: ignore[index, union-attr]


def test_enrolment_pins_the_confirmed_host_key_and_refuses_any_other(cluster: Cluster) -> None:
    control = cluster.control
    # A fingerprint that is not node1's (it is node2's): refused, nothing enrolled.
    wrong = control.labcloud(
        *cluster.add_args("node1"),
        "--trust-fingerprint",
        cluster.nodes["node2"].fingerprint,
        check=False,
    )
    assert wrong.returncode == EXIT_CODES["untrusted"], wrong.stderr
    assert cluster.nodes["node1"].fingerprint in wrong.stderr
    assert "node1" not in _nodes(control)
    # No fingerprint and no terminal to confirm on: refused, the key shown to check.
    unconfirmed = control.labcloud(*cluster.add_args("node1"), check=False)
    assert unconfirmed.returncode == EXIT_CODES["untrusted"]
    assert f"--trust-fingerprint {cluster.nodes['node1'].fingerprint}" in unconfirmed.stderr

    for name in cluster.nodes:
        cluster.enrol(name)
    listed = _nodes(control)
    for name in cluster.nodes:
        assert listed[name]["State"] == "up", listed[name]
        assert listed[name]["Roles"] == "compute"
        assert int(listed[name]["vCPU Total"]) >= 1  # type: ignore[call-overload]
        assert int(listed[name]["RAM Total MiB"]) > 0  # type: ignore[call-overload]
    assert listed["local"]["Roles"] == "control,network"
    shown = _json(control, "node", "show", "node1")
    assert shown["host_key"] == cluster.nodes["node1"].fingerprint  # type: ignore[index]
    assert shown["shared_storage"] is True  # type: ignore[index]
    assert _json(control, "node", "show", "node3")["shared_storage"] is False  # type: ignore[index]


def test_a_changed_host_key_is_refused_until_trusted_again(cluster: Cluster) -> None:
    control, node3 = cluster.control, cluster.nodes["node3"]
    kill_sshd(node3.node)
    new_fp = new_host_key(node3.node)  # as if reinstalled, or someone else answers
    restart_sshd(node3)

    shown = _json(control, "node", "show", "node3")
    assert shown["state"] == "down"  # type: ignore[index]
    assert "changed" in shown["reason"] and new_fp in shown["reason"]  # type: ignore[index]
    pinned = control.labcloud(
        "server", "create", "pinned3", "--image", "tiny", "--flavor", "m1.nano",
        "--node", "node3", check=False,
    )  # fmt: skip
    assert pinned.returncode != 0 and "node3: down" in pinned.stderr

    control.labcloud("node", "set", "node3", "--trust-fingerprint", new_fp)
    assert _nodes(control)["node3"]["State"] == "up"
    node3.fingerprint = new_fp


def test_servers_are_spread_over_the_nodes_and_boot_there(cluster: Cluster) -> None:
    control = cluster.control
    control.labcloud("node", "disable", "node3", "--reason", "kept for later")
    placed = {}
    for name in ("web1", "web2"):
        control.labcloud("server", "create", name, "--image", "tiny", "--flavor", "m1.nano")
        shown = _json(control, "server", "show", name)
        placed[name] = shown["node"]  # type: ignore[index]
        assert shown["status"] == "ACTIVE"  # type: ignore[index]
        assert shown["placement"].startswith("spread")  # type: ignore[index]
        assert "node3: disabled" in shown["placement"]  # type: ignore[index]
        assert "local: no compute role" in shown["placement"]  # type: ignore[index]
    assert sorted(placed.values()) == ["node1", "node2"]
    for name, node in placed.items():
        line = control.labcloud("console", "log", name, "--wait-for", READY).stdout
        assert "ready" in line
        # The domain really runs in that node's own libvirtd, not the control's.
        assert f"labcloud-{_json(control, 'server', 'show', name)['id']}" in (  # type: ignore[index]
            cluster.nodes[node].node.virsh("list", "--name").stdout
        )
    assert control.virsh("list", "--name").stdout.strip() == ""
    used = _nodes(control)
    assert used["node1"]["Servers"] == 1 and used["node2"]["Servers"] == 1
    assert used["node1"]["RAM Used MiB"] == 128
    # The control node's doctor checks its own libvirt only: the nodes' servers are fine.
    assert "missing-domain" not in control.labcloud("doctor").stdout
    control.labcloud("node", "enable", "node3")


def _ready_lines(control: Node, server: str) -> int:
    log = control.labcloud("console", "log", server).stdout
    return sum("labcloud-tiny: ready" in line for line in log.splitlines())


def _wait_ready_lines(control: Node, server: str, count: int) -> None:
    """The log is appended to across boots: wait for the count-th "ready" line."""
    deadline = time.monotonic() + 180
    while _ready_lines(control, server) < count:
        assert time.monotonic() < deadline, control.labcloud("console", "log", server).stdout
        time.sleep(1)


def _on_node(cluster: Cluster, node: str, server: str) -> bool:
    server_id = _json(cluster.control, "server", "show", server)["id"]  # type: ignore[index]
    names = cluster.nodes[node].node.virsh("list", "--all", "--name").stdout.split()
    return f"labcloud-{server_id}" in names


def test_a_running_server_moves_live_and_keeps_its_console(cluster: Cluster) -> None:
    control = cluster.control
    assert _json(control, "server", "show", "web2")["node"] == "node2"  # type: ignore[index]
    # node1 shares node2's instance storage: only the memory moves.
    moved = _json(control, "server", "migrate", "web2", "--live", "--node", "node1")
    assert moved["node"] == "node1" and moved["status"] == "ACTIVE"  # type: ignore[index]
    assert moved["placement"].startswith("live-migrated from node2: pinned")  # type: ignore[index]
    assert _on_node(cluster, "node1", "web2") and not _on_node(cluster, "node2", "web2")
    # The same guest, not a new boot: one "ready" line, and the console keeps flowing
    # from node1 (a clean shutdown prints there).
    assert _ready_lines(control, "web2") == 1
    control.labcloud("server", "stop", "web2")
    control.labcloud("console", "log", "web2", "--wait-for", "labcloud-tiny: shutdown")

    cold = _json(control, "server", "migrate", "web2", "--node", "node2")
    assert cold["node"] == "node2" and cold["status"] == "SHUTOFF"  # type: ignore[index]
    assert _on_node(cluster, "node2", "web2") and not _on_node(cluster, "node1", "web2")
    control.labcloud("server", "start", "web2")
    _wait_ready_lines(control, "web2", 2)  # booted again, from the same disk, on node2


def test_servers_on_two_nodes_share_a_vxlan_network_and_ping_each_other(
    cluster: Cluster, tmp_path: Path
) -> None:
    control = cluster.control
    control.labcloud("server", "delete", "web2")  # fewer TCG guests on two cores
    control.labcloud("network", "create", "tenant")  # VXLAN, DHCP on the control node
    control.labcloud(
        "subnet", "create", "tenant-sub", "--network", "tenant", "--subnet-range", "10.30.0.0/24"
    )
    control.labcloud(
        "server", "create", "beta", "--image", "tiny", "--flavor", "m1.nano",
        "--network", "tenant", "--node", "node3",
    )  # fmt: skip
    (port,) = _json(control, "port", "list", "--server", "beta")  # type: ignore[misc]
    beta_ip = port["Fixed IP Addresses"].split("'")[1]
    # DHCP answered from the control node, across the tunnel.
    control.labcloud(
        "console", "log", "beta", "--timeout", "150", "--wait-for",
        f"nic eth0 mac {port['MAC Address']} ip {beta_ip}/24",
    )  # fmt: skip
    script = tmp_path / "ping-beta.sh"
    script.write_text(
        "#!/bin/sh\n"
        "for i in 1 2 3 4 5 6 7 8 9 10; do\n"
        f"  if ping -c 1 -W 2 {beta_ip} >/dev/null; then\n"
        f"    echo 'labcloud-test: reached {beta_ip}' >/dev/console; exit 0\n"
        "  fi\n"
        "done\n"
        f"echo 'labcloud-test: cannot reach {beta_ip}' >/dev/console; exit 1\n"
    )
    control.labcloud(
        "server", "create", "alpha", "--image", "tiny", "--flavor", "m1.nano",
        "--network", "tenant", "--node", "node2", "--user-data", str(script),
    )  # fmt: skip
    assert _on_node(cluster, "node2", "alpha") and _on_node(cluster, "node3", "beta")
    # beta's node has its own disk: the image went there, verified, and stays cached.
    tiny = _json(control, "image", "show", "tiny")
    stored = control.state_dir / "images" / tiny["checksum"]  # type: ignore[index]
    seen = cluster.nodes["node3"].node.run(["sha256sum", str(stored)]).stdout
    assert seen.split()[0] == tiny["checksum"]  # type: ignore[index]
    assert not (
        control.state_dir / "instances" / _json(control, "server", "show", "beta")["id"]
    ).exists()  # type: ignore[index]
    console = control.labcloud(
        "console", "log", "alpha", "--timeout", "150", "--wait-for", "labcloud-test: "
    ).stdout
    assert f"labcloud-test: reached {beta_ip}" in console
    # Each node's bridge floods to the control node and to the other nodes.
    fdb = cluster.nodes["node2"].node.run(["bridge", "fdb", "show"]).stdout
    for peer in ("10.99.0.1", "10.99.0.11", "10.99.0.13"):
        assert "00:00:00:00:00:00 dev lcvx" in fdb and f"dst {peer}" in fdb
    # alpha and beta stay: the next stories move them.


def _answers(control: Node, ip: str) -> str | None:
    """What the guest's web server at ip says for /hostname, asked from the tenant
    network's DHCP namespace on the control node (a few tries: ARP settles first)."""
    netns = dhcp_netns(_json(control, "network", "show", "tenant")["id"])  # type: ignore[index]
    for _ in range(10):
        body = http_get(control, netns, ip)
        if body:
            return body
    return None


def _disk_sha(node: Node, path: Path) -> str:
    return node.run(["sha256sum", str(path)]).stdout.split()[0]


def test_a_running_server_takes_its_disk_to_a_node_without_shared_storage(
    cluster: Cluster,
) -> None:
    control, node3 = cluster.control, cluster.nodes["node3"].node
    # Guests on the nodes are filtered there as on the control node: the default group
    # admits its members only, so let the tenant network (its DHCP namespace) reach :80.
    control.labcloud(
        "security", "group", "rule", "create", "default", "--protocol", "tcp",
        "--dst-port", "80", "--remote-ip", "10.30.0.0/24",
    )  # fmt: skip
    alpha = _json(control, "server", "show", "alpha")
    ip = server_ip(control, "alpha")
    instance = control.state_dir / "instances" / alpha["id"]  # type: ignore[index]
    assert alpha["node"] == "node2" and (instance / "disk").exists()  # type: ignore[index]
    assert _answers(control, ip) == "alpha"

    # node3 has its own disk: the root disk goes along in the migration stream.
    moved = _json(control, "server", "migrate", "alpha", "--live", "--node", "node3")
    assert moved["node"] == "node3" and moved["status"] == "ACTIVE"  # type: ignore[index]
    assert moved["placement"].startswith(  # type: ignore[index]
        "live-migrated with its disks from node2: pinned"
    )
    assert _on_node(cluster, "node3", "alpha") and not _on_node(cluster, "node2", "alpha")
    # The files are on node3's own disk now, and gone from the storage it left.
    assert "disk" in node3.run(["ls", str(instance)]).stdout
    assert not instance.exists()
    # The same guest: the same IP answers, and its console (carried along) shows one boot.
    assert server_ip(control, "alpha") == ip
    assert _answers(control, ip) == "alpha"
    assert _ready_lines(control, "alpha") == 1
    control.labcloud("server", "stop", "alpha")
    control.labcloud("console", "log", "alpha", "--wait-for", "labcloud-tiny: shutdown")

    # Cold, back to node2, killed once its disk has been copied: the next run of
    # migration puts everything back on node3, whose copy was never touched.
    on_node3 = _disk_sha(node3, instance / "disk")
    killed = control.run(
        [str(LABCLOUD_BIN), "server", "migrate", "alpha", "--node", "node2"],
        check=False,
        env={FAULT_ENV: "server.migrate:define"},
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert _disk_sha(control, instance / "disk") == on_node3  # the copy had landed
    doctor = _json(control, "doctor", "--repair")
    assert {
        "Kind": "interrupted-operation",
        "Resource": "alpha",
        "Detail": "server.migrate interrupted at step define: rolled back",
        "Repaired": True,
    } in doctor  # type: ignore[operator]
    assert not instance.exists()
    assert _json(control, "server", "show", "alpha")["node"] == "node3"  # type: ignore[index]
    assert _disk_sha(node3, instance / "disk") == on_node3

    # Again, not killed: the stopped disk is copied byte for byte, then node3's goes.
    cold = _json(control, "server", "migrate", "alpha", "--node", "node2")
    assert cold["node"] == "node2" and cold["status"] == "SHUTOFF"  # type: ignore[index]
    assert cold["placement"].startswith("migrated with its disks from node3")  # type: ignore[index]
    assert _on_node(cluster, "node2", "alpha") and not _on_node(cluster, "node3", "alpha")
    assert _disk_sha(control, instance / "disk") == on_node3
    assert node3.run(["ls", str(instance)], check=False).returncode != 0
    control.labcloud("server", "start", "alpha")
    _wait_ready_lines(control, "alpha", 2)  # its console log came back too
    assert _answers(control, ip) == "alpha"


def test_a_dead_node_is_marked_down_and_the_others_keep_working(cluster: Cluster) -> None:
    control = cluster.control
    servers = {
        s["Name"]: s
        for s in _json(control, "server", "list")  # type: ignore[union-attr]
    }
    on = {_json(control, "server", "show", n)["node"]: n for n in servers}  # type: ignore[index]
    victim, survivor = cluster.nodes["node1"].node, on["node2"]
    kill_sshd(victim)
    kill_libvirtd(victim)

    started = time.monotonic()
    listed = _nodes(control)
    took = time.monotonic() - started
    assert listed["node1"]["State"] == "down"
    print(f"node list noticed node1 down in {took:.2f} s")
    rows = {s["Name"]: s for s in _json(control, "server", "list")}  # type: ignore[union-attr]
    assert rows[on["node1"]]["Status"] == "UNKNOWN"
    assert rows[survivor]["Status"] == "ACTIVE"

    stop = control.labcloud("server", "stop", on["node1"], check=False)
    assert stop.returncode == EXIT_CODES["unavailable"], stop.stderr
    assert "node1" in stop.stderr

    # The others keep working: a new server avoids the dead node, the survivor stops.
    control.labcloud("server", "create", "web3", "--image", "tiny", "--flavor", "m1.nano")
    shown = _json(control, "server", "show", "web3")
    assert shown["node"] in ("node2", "node3")  # type: ignore[index]
    assert "node1: down" in shown["placement"]  # type: ignore[index]
    control.labcloud("console", "log", "web3", "--wait-for", READY)
    control.labcloud("server", "stop", survivor)
    assert _json(control, "server", "show", survivor)["status"] == "SHUTOFF"  # type: ignore[index]
    for name in ("web3", survivor):
        control.labcloud("server", "delete", name)


def test_a_server_of_a_dead_node_is_evacuated_from_its_shared_disk(cluster: Cluster) -> None:
    control = cluster.control
    # Not just its daemons: the whole node is gone (its guest too, as after a power cut),
    # so nothing holds web1's disk any more.
    cluster.nodes["node1"].node.stop()
    assert _json(control, "server", "show", "web1")["status"] == "UNKNOWN"  # type: ignore[index]
    # node2 shares node1's storage: web1 starts again from its own disk there.
    evacuated = _json(control, "server", "evacuate", "web1", "--node", "node2")
    assert evacuated["node"] == "node2"  # type: ignore[index]
    assert evacuated["placement"].startswith("evacuated from node1: pinned")  # type: ignore[index]
    _wait_ready_lines(control, "web1", 2)  # booted again, from the same disk, on node2
    assert _on_node(cluster, "node2", "web1")

    busy = control.labcloud("node", "remove", "node2", check=False)
    assert busy.returncode == EXIT_CODES["conflict"] and "1 server" in busy.stderr
    control.labcloud("node", "remove", "node1")
    assert "node1" not in _nodes(control)
    known_hosts = (control.state_dir / "ssh" / "known_hosts").read_text()
    assert "10.99.0.11" not in known_hosts and "10.99.0.12" in known_hosts
    control.labcloud("server", "delete", "web1")


def test_a_server_of_a_dead_node_with_its_own_disk_is_rebuilt_from_its_image(
    cluster: Cluster,
) -> None:
    control = cluster.control
    (port,) = _json(control, "port", "list", "--server", "beta")  # type: ignore[misc]
    ip = server_ip(control, "beta")
    # node3 is gone, and its private disk with it: beta can only start afresh elsewhere.
    cluster.nodes["node3"].node.stop()
    assert _json(control, "server", "show", "beta")["status"] == "UNKNOWN"  # type: ignore[index]
    evacuated = _json(control, "server", "evacuate", "beta")
    assert evacuated["node"] == "node2"  # type: ignore[index]
    assert evacuated["placement"].startswith(  # type: ignore[index]
        "evacuated from node3, rebuilt from image tiny (no shared storage"
    )
    # A new boot from the image, on the same port: the same MAC gets the same IP.
    control.labcloud(
        "console", "log", "beta", "--timeout", "150", "--wait-for",
        f"nic eth0 mac {port['MAC Address']} ip {ip}/24",
    )  # fmt: skip
    assert _on_node(cluster, "node2", "beta")
    assert _answers(control, ip) == "beta"
    control.labcloud("server", "delete", "beta")
