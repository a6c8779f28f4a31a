"""The data plane of remote nodes: what happens to a server that lives on another node.

A control node drives node1 (which shares the control's state directory, as with NFS)
and node2 (its own disks), each its own namespace with sshd and libvirtd. The story:
a server on node1 gets a port hot-plugged and a snapshot taken through node1's libvirt,
a deleted network leaves nothing behind on the nodes, security groups filter a guest on
node1 as they do on the control node, and a volume reaches a server on node1 (its file)
and one on node2 (over NBD, exported by the control node).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from labcloud.errors import EXIT_CODES
from tests.harness import Node
from tests.harness.cluster import (
    SshNode,
    enrol_all,
    running_cluster,
)
from tests.integration.l3_helpers import http_get, probe_on_port

CONTROL_LAB = (
    '[local_node]\nroles = ["control", "network", "storage"]\n'
    '[networks]\nlocal_ip = "10.99.0.1"\nvxlan_peers = ["10.99.0.11", "10.99.0.12"]\n'
)
READY = "labcloud-tiny: ready"


@dataclass
class Pair:
    control: Node
    nodes: dict[str, SshNode]

    def js(self, *args: str) -> dict[str, object]:
        return dict(json.loads(self.control.labcloud(*args, "-f", "json").stdout))

    def port_of(self, server: str) -> str:
        listed = self.control.labcloud("port", "list", "--server", server, "-f", "json")
        rows = json.loads(listed.stdout)
        return str(rows[0]["ID"])

    def links(self, node: str) -> str:
        return self.nodes[node].node.run(["ip", "-o", "link", "show"]).stdout


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    names = ["node1", "node2"]
    with running_cluster("ctl", names, "10.99.0", CONTROL_LAB, private=("node2",)) as made:
        control, nodes, key = made
        enrol_all(control, nodes, key)
        control.labcloud("network", "create", "dnet")  # VXLAN; DHCP on the control node
        control.labcloud(
            "subnet", "create", "dnet-sub", "--network", "dnet", "--subnet-range", "10.32.0.0/24"
        )
        yield Pair(control, nodes)


def _fixed_ip(port: dict[str, object]) -> str:
    return str(port["fixed_ips"]).split("ip_address='", 1)[1].split("'", 1)[0]


def test_a_server_on_a_node_gets_a_port_hot_plugged_and_a_snapshot_taken(pair: Pair) -> None:
    control = pair.control
    control.labcloud(
        "server", "create", "hp1", "--image", "tiny", "--flavor", "m1.nano", "--node", "node1"
    )
    control.labcloud("console", "log", "hp1", "--wait-for", READY, "--timeout", "180")
    server_id = pair.js("server", "show", "hp1")["id"]

    # The port goes into node1's guest (not the control's libvirt): the guest sees the
    # NIC and gets its address from the control node's DHCP, across the VXLAN tunnel.
    control.labcloud("port", "create", "hp1-port", "--network", "dnet")
    control.labcloud("server", "add", "port", "hp1", "hp1-port")
    port = pair.js("port", "show", "hp1-port")
    mac, ip = port["mac_address"], _fixed_ip(port)
    control.labcloud(
        "console", "log", "hp1", "--timeout", "150", "--wait-for", f"nic eth0 mac {mac} ip {ip}/24"
    )
    assert port["status"] == "ACTIVE"
    assert mac in pair.nodes["node1"].node.virsh("dumpxml", f"labcloud-{server_id}").stdout
    assert "lcvx-" in pair.links("node1")  # the network reached node1 for the hot-plug
    # Disabling the port takes its tap down on node1 (no carrier for the guest's NIC).
    tap = str(port["binding:tap"])
    control.labcloud("port", "set", "hp1-port", "--disable")
    assert "state DOWN" in pair.nodes["node1"].node.run(["ip", "link", "show", tap]).stdout
    control.labcloud("port", "set", "hp1-port", "--enable")
    assert "state DOWN" not in pair.nodes["node1"].node.run(["ip", "link", "show", tap]).stdout

    # The snapshot pauses and resumes the guest on node1; the image is whole and usable.
    control.labcloud("server", "image", "create", "hp1", "--name", "hp1-snap")
    snap = pair.js("image", "show", "hp1-snap")
    assert snap["status"] == "active" and snap["checksum"]
    assert pair.js("server", "show", "hp1")["status"] == "ACTIVE"
    # Paused for the copy and resumed by node1's libvirt (the control's has no such guest).
    state = pair.nodes["node1"].node.virsh("domstate", "--reason", f"labcloud-{server_id}")
    assert state.stdout.strip() == "running (unpaused)"

    control.labcloud("server", "remove", "port", "hp1", "hp1-port")
    control.labcloud("console", "log", "hp1", "--timeout", "60", "--wait-for", "nic-removed eth0")
    assert mac not in pair.nodes["node1"].node.virsh("dumpxml", f"labcloud-{server_id}").stdout
    control.labcloud("port", "delete", "hp1-port")
    control.labcloud("image", "delete", "hp1-snap")


def test_a_deleted_network_leaves_no_bridge_or_tunnel_on_the_nodes(pair: Pair) -> None:
    control = pair.control
    control.labcloud("network", "create", "brief")
    control.labcloud(
        "subnet", "create", "brief-sub", "--network", "brief", "--subnet-range", "10.33.0.0/24"
    )
    net = pair.js("network", "show", "brief")
    bridge, vxlan = str(net["bridge"]), "lcvx-" + str(net["id"]).replace("-", "")[:8]
    control.labcloud("server", "add", "network", "hp1", "brief")
    (port,) = json.loads(control.labcloud("port", "list", "--server", "hp1", "-f", "json").stdout)
    control.labcloud(
        "console", "log", "hp1", "--timeout", "60", "--wait-for", f"mac {port['MAC Address']}"
    )
    assert bridge in pair.links("node1") and vxlan in pair.links("node1")

    control.labcloud("server", "remove", "network", "hp1", "brief")
    control.labcloud("network", "delete", "brief")
    # Gone from node1, which had them; node2 never had them and is asked all the same.
    for node in ("node1", "node2"):
        links = pair.links(node)
        assert bridge not in links and vxlan not in links, links
    assert bridge not in control.run(["ip", "-o", "link", "show"]).stdout
    # The network that stays is untouched on node1.
    assert str(pair.js("network", "show", "dnet")["bridge"]) in pair.links("node1")
    control.labcloud("server", "delete", "hp1")  # fewer TCG guests on two cores


def test_a_guest_on_a_node_is_filtered_by_its_security_groups(pair: Pair, tmp_path: Path) -> None:
    control = pair.control
    # A probe on the control node, plugged in as port dp-probe of dnet: it answers pings.
    control.labcloud("security", "group", "create", "dp-probe")
    control.labcloud(
        "security", "group", "rule", "create", "dp-probe", "--protocol", "icmp",
        "--remote-ip", "0.0.0.0/0",
    )  # fmt: skip
    control.labcloud("port", "create", "dp-probe", "--network", "dnet")
    control.labcloud("port", "add", "security", "group", "dp-probe", "dp-probe")
    probe = probe_on_port(control, "probe", "dp-probe", 24, "10.32.0.1")
    probe_ip = _fixed_ip(pair.js("port", "show", "dp-probe"))
    spoofed = "10.32.0.99"
    # The guest on node1 pings the probe from its own address, then from one it does not own.
    script = tmp_path / "spoof.sh"
    script.write_text(
        "#!/bin/sh\n"
        'say() { echo "labcloud-test: $*" >/dev/console; }\n'
        "for i in $(seq 1 30); do\n"
        f"  ping -c 1 -W 2 {probe_ip} >/dev/null && break\n"
        "done\n"
        f"ping -c 1 -W 2 {probe_ip} >/dev/null && say own address reached || say own failed\n"
        f"ip addr add {spoofed}/24 dev eth0\n"
        f"if ping -c 3 -W 2 -I {spoofed} {probe_ip} >/dev/null; then say spoofed reached\n"
        "else say spoofed dropped; fi\n"
        f"ip addr del {spoofed}/24 dev eth0\n"
    )
    try:
        control.labcloud("security", "group", "create", "dp-web")  # all egress, no ingress
        control.labcloud(
            "server", "create", "sgw", "--image", "tiny", "--flavor", "m1.nano", "--node",
            "node1", "--network", "dnet", "--security-group", "dp-web", "--user-data",
            str(script),
        )  # fmt: skip
        log = control.labcloud(
            "console", "log", "sgw", "--timeout", "240", "--wait-for", "labcloud-test: spoofed"
        ).stdout
        assert "labcloud-test: own address reached" in log
        assert "labcloud-test: spoofed dropped" in log  # node1's anti-spoofing
        control.labcloud("console", "log", "sgw", "--wait-for", READY, "--timeout", "60")
        web_ip = _fixed_ip(pair.js("port", "show", pair.port_of("sgw")))

        # Nothing admits the probe to port 80 yet; a rule does, and taking it away closes it.
        assert http_get(control, "probe", web_ip) is None
        rule = pair.js(
            "security", "group", "rule", "create", "dp-web", "--protocol", "tcp",
            "--dst-port", "80", "--remote-ip", "0.0.0.0/0",
        )  # fmt: skip
        assert http_get(control, "probe", web_ip) == "sgw"
        control.labcloud("security", "group", "rule", "delete", str(rule["id"]))
        assert http_get(control, "probe", web_ip) is None
        # The rules live in node1's own nftables, for the guest's tap there.
        tap = str(pair.js("port", "show", pair.port_of("sgw"))["binding:tap"])
        ruleset = pair.nodes["node1"].node.run(["nft", "list", "table", "bridge", "labcloud"])
        assert tap in ruleset.stdout
    finally:
        control.labcloud("server", "delete", "sgw", check=False)
        probe.remove()
        control.labcloud("port", "delete", "dp-probe", check=False)
        for group in ("dp-web", "dp-probe"):
            control.labcloud("security", "group", "delete", group, check=False)


def test_a_volume_reaches_a_server_on_a_node_that_shares_its_storage(pair: Pair) -> None:
    control, gib = pair.control, 1024**3
    control.labcloud("volume", "create", "dv1", "--size", "1")
    # Booted from a new volume: node1 sees node local's storage, so it may hold the server.
    control.labcloud(
        "server", "create", "vs1", "--boot-from-image", "tiny", "--boot-volume-size", "1",
        "--flavor", "m1.nano", "--node", "node1",
    )  # fmt: skip
    boot = control.labcloud("console", "log", "vs1", "--wait-for", READY, "--timeout", "180")
    assert f"labcloud-tiny: disk vda size {gib}" in boot.stdout  # the volume is the root disk
    assert pair.js("volume", "show", "vs1-boot")["status"] == "in-use"

    def wait(line: str) -> None:
        control.labcloud("console", "log", "vs1", "--timeout", "90", "--wait-for", line)

    # Attached, grown and detached live, all through node1's libvirt: the guest sees each.
    control.labcloud("server", "add", "volume", "vs1", "dv1")
    wait(f"disk-added vdb size {gib}")
    assert pair.js("volume", "show", "dv1")["status"] == "in-use"
    control.labcloud("volume", "set", "dv1", "--size", "2")
    wait(f"disk-resized vdb size {2 * gib}")
    control.labcloud("server", "remove", "volume", "vs1", "dv1")
    wait("disk-removed vdb")
    assert pair.js("volume", "show", "dv1")["status"] == "available"
    control.labcloud("server", "delete", "vs1")
    assert "vs1-boot" not in control.labcloud("volume", "list", "-f", "value", "-c", "Name").stdout
    control.labcloud("volume", "delete", "dv1")


MARKER = "labcloud-nbd-marker-7f3a"


def _pid_of(node: Node, pidfile: Path, command: str, other_than: str = "") -> str:
    """The PID in pidfile once it names a live `command` process (other than a dead one)."""
    for _ in range(150):
        text = node.run(["cat", str(pidfile)], check=False).stdout.split()
        if text and text[0] != other_than:
            cmdline = node.run(["cat", f"/proc/{text[0]}/cmdline"], check=False).stdout
            if command in cmdline:
                return text[0]
        time.sleep(0.2)
    raise AssertionError(f"no live {command} in {pidfile}")


def _nbd_listeners(control: Node) -> list[str]:
    out = control.run(["ss", "-Hltn"]).stdout.splitlines()
    return [line.split()[3] for line in out if ":108" in line]


def test_a_volume_reaches_a_node_without_shared_storage_over_nbd(
    pair: Pair, tmp_path: Path
) -> None:
    control, gib = pair.control, 1024**3
    # Once vdb appears, the guest writes a marker to it and reads it back past its cache.
    script = tmp_path / "vdb.sh"
    script.write_text(
        "#!/bin/sh\n"
        "(\n"
        "  while [ ! -b /dev/vdb ]; do sleep 1; done\n"
        f"  printf '{MARKER}' | dd of=/dev/vdb bs=512 conv=sync,fsync 2>/dev/null\n"
        "  echo 3 >/proc/sys/vm/drop_caches\n"
        f"  got=$(dd if=/dev/vdb bs={len(MARKER)} count=1 2>/dev/null)\n"
        '  echo "labcloud-test: vdb holds $got" >/dev/console\n'
        ") </dev/null >/dev/null 2>&1 &\n"
    )
    control.labcloud(
        "server", "create", "priv2", "--image", "tiny", "--flavor", "m1.nano", "--node", "node2",
        "--user-data", str(script),
    )  # fmt: skip
    control.labcloud("console", "log", "priv2", "--wait-for", READY, "--timeout", "180")
    control.labcloud("volume", "create", "dv2", "--size", "1")
    server_id = pair.js("server", "show", "priv2")["id"]

    # node2 cannot see the volume's file: node local exports it over NBD, on its management
    # address only, and node2's domain gets a network disk.
    attached = pair.js("server", "add", "volume", "priv2", "dv2")
    assert attached["status"] == "in-use" and attached["device"] == "/dev/vdb", attached
    vid = str(attached["id"])
    for line in (f"disk-added vdb size {gib}", "labcloud-test: vdb holds"):
        log = control.labcloud(
            "console", "log", "priv2", "--timeout", "120", "--wait-for", line
        ).stdout
    assert f"labcloud-test: vdb holds {MARKER}\n" in log
    domain = pair.nodes["node2"].node.virsh("dumpxml", f"labcloud-{server_id}").stdout
    assert "protocol='nbd'" in domain and f"name='volume-{vid}'" in domain, domain
    assert _nbd_listeners(control) == ["10.99.0.1:10809"]
    export_dir = control.state_dir / "nbd" / f"volume-{vid}"
    nbd_pid = _pid_of(control, export_dir / "qemu-nbd.pid", "qemu-nbd")

    # A qemu-nbd that dies is started again by its supervisor, on the same port.
    control.run(["kill", "-KILL", nbd_pid])
    nbd_pid = _pid_of(control, export_dir / "qemu-nbd.pid", "qemu-nbd", other_than=nbd_pid)
    assert _nbd_listeners(control) == ["10.99.0.1:10809"]
    # With its supervisor gone too (the control machine restarted), the next command
    # starts the export again from the store.
    supervisor = _pid_of(control, export_dir / "supervisor.pid", "backends.supervisor")
    control.run(["kill", "-KILL", supervisor, nbd_pid])
    assert pair.js("volume", "show", "dv2")["status"] == "in-use"
    nbd_pid = _pid_of(control, export_dir / "qemu-nbd.pid", "qemu-nbd", other_than=nbd_pid)
    assert _nbd_listeners(control) == ["10.99.0.1:10809"]

    # An exported volume cannot grow under its server, and is not deleted while attached.
    for argv in (("volume", "set", "dv2", "--size", "2"), ("volume", "delete", "dv2")):
        refused = control.labcloud(*argv, check=False)
        assert refused.returncode == EXIT_CODES["conflict"], refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert (
        "exported over NBD to node node2"
        in control.labcloud("volume", "set", "dv2", "--size", "2", check=False).stderr
    )

    # Detach: the guest loses the disk, the export stops, and the data stays in the volume.
    control.labcloud("server", "remove", "volume", "priv2", "dv2")
    control.labcloud("console", "log", "priv2", "--timeout", "90", "--wait-for", "disk-removed vdb")
    assert pair.js("volume", "show", "dv2")["status"] == "available"
    assert control.run(["test", "-e", f"/proc/{nbd_pid}"], check=False).returncode != 0
    assert _nbd_listeners(control) == []
    volume_file = control.state_dir / "volumes" / "file" / f"volume-{vid}"
    head = control.run(
        ["qemu-img", "dd", "-f", "qcow2", "-O", "raw", "bs=512", "count=1",
         f"if={volume_file}", f"of={tmp_path / 'head'}"]
    )  # fmt: skip
    assert head.returncode == 0
    assert (tmp_path / "head").read_bytes().startswith(MARKER.encode())


def test_a_node_without_shared_storage_gets_no_boot_volume_but_its_snapshots(pair: Pair) -> None:
    control = pair.control
    # A server booted from a volume is not scheduled there: its root disk stays shared.
    pinned = control.labcloud(
        "server", "create", "bv2", "--boot-from-image", "tiny", "--boot-volume-size", "1",
        "--flavor", "m1.nano", "--node", "node2", check=False,
    )  # fmt: skip
    assert pinned.returncode != 0, pinned.stderr
    assert "node2: --boot-volume-size needs storage shared with node local" in pinned.stderr
    assert "bv2" not in control.labcloud("server", "list", "-f", "value", "-c", "Name").stdout
    assert "bv2-boot" not in control.labcloud("volume", "list", "-f", "value", "-c", "Name").stdout

    # A snapshot is made on node2 (its disk is there) and fetched into the control's store.
    control.labcloud("server", "image", "create", "priv2", "--name", "p2")
    snap = pair.js("image", "show", "p2")
    assert snap["status"] == "active", snap
    stored = control.state_dir / "images" / str(snap["checksum"])
    seen = control.run(["sha256sum", str(stored)]).stdout
    assert seen.split()[0] == snap["checksum"]
    leftovers = pair.nodes["node2"].node.run(["ls", "-A", str(control.state_dir / "images")])
    assert ".import-" not in leftovers.stdout  # node2's copy went once fetched
    assert pair.js("server", "show", "priv2")["status"] == "ACTIVE"
    # Deleting a server stops the NBD export of its volume, which stays.
    control.labcloud("server", "add", "volume", "priv2", "dv2")
    assert _nbd_listeners(control) == ["10.99.0.1:10809"]
    control.labcloud("server", "delete", "priv2")
    assert pair.js("volume", "show", "dv2")["status"] == "available"
    assert _nbd_listeners(control) == []
    control.labcloud("volume", "delete", "dv2")
    control.labcloud("image", "delete", "p2")
