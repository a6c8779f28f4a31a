"""VXLAN between two nodes: the same VNI on both, joined by a veth underlay, carries a
ping from a namespace on one node's bridge to a namespace on the other's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import Node, link_nodes, start_node

VNI = "4242"


def _lab_extra(local: str, peer: str) -> str:
    return f'[networks]\nlocal_ip = "{local}"\nvxlan_peers = ["{peer}"]\n'


@pytest.fixture
def two_nodes() -> Iterator[tuple[Node, Node]]:
    a = start_node("vxa", lab_extra=_lab_extra("192.168.77.1", "192.168.77.2"))
    try:
        b = start_node("vxb", lab_extra=_lab_extra("192.168.77.2", "192.168.77.1"))
        try:
            link_nodes(a, b, "192.168.77.1/24", "192.168.77.2/24")
            yield a, b
        finally:
            b.stop()
    finally:
        a.stop()


def _host_on_bridge(node: Node, bridge: str, address: str) -> None:
    """A test namespace on the network's bridge, as a guest would be."""
    node.run(["ip", "netns", "add", "lctest"])
    node.run(
        [
            "ip",
            "link",
            "add",
            "lct-host",
            "mtu",
            "1450",
            "type",
            "veth",
            "peer",
            "name",
            "lct-ns",
            "netns",
            "lctest",
        ]
    )
    node.run(["ip", "link", "set", "lct-host", "master", bridge, "up"])
    node.run(["ip", "-n", "lctest", "link", "set", "lct-ns", "mtu", "1450", "up"])
    node.run(["ip", "-n", "lctest", "addr", "add", address, "dev", "lct-ns"])


def test_a_vxlan_network_spans_two_nodes(two_nodes: tuple[Node, Node]) -> None:
    bridges = []
    for node in two_nodes:
        node.labcloud("init")
        node.labcloud("network", "create", "overlay", "--provider-segment", VNI)
        # No DHCP: each node would run its own dnsmasq for the same range.
        node.labcloud(
            "subnet",
            "create",
            "overlay-sub",
            "--network",
            "overlay",
            "--subnet-range",
            "10.42.0.0/24",
            "--no-dhcp",
        )
        shown = node.labcloud(
            "network",
            "show",
            "overlay",
            "-f",
            "value",
            "-c",
            "provider:segmentation_id",
            "-c",
            "bridge",
            "-c",
            "mtu",
        )
        segment, bridge, mtu = shown.stdout.split()
        assert (segment, mtu) == (VNI, "1450")
        bridges.append(bridge)
    a, b = two_nodes
    vx_a = "lcvx-" + bridges[0][5:]
    details = a.run(["ip", "-d", "link", "show", vx_a]).stdout
    assert f"vxlan id {VNI}" in details and "local 192.168.77.1" in details
    # Head-end replication: one all-zero flood entry per remote VTEP.
    fdb = a.run(["bridge", "fdb", "show", "dev", vx_a]).stdout
    assert "00:00:00:00:00:00 dst 192.168.77.2" in fdb

    _host_on_bridge(a, bridges[0], "10.42.0.11/24")
    _host_on_bridge(b, bridges[1], "10.42.0.12/24")
    ping = a.run(
        ["ip", "netns", "exec", "lctest", "busybox", "ping", "-c", "3", "-W", "2", "10.42.0.12"],
        check=False,
    )
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert "3 packets transmitted, 3 packets received" in ping.stdout
    # b learnt a's test host behind a's VTEP.
    assert (
        "dst 192.168.77.1"
        in b.run(["bridge", "fdb", "show", "dev", "lcvx-" + bridges[1][5:]]).stdout
    )


@pytest.fixture
def uplinked() -> Iterator[Node]:
    node = start_node(
        "uplink", lab_extra='[networks]\nphysical_networks = { public = "lcup-eth1" }\n'
    )
    try:
        # The admin's "physical" interface: one end of a veth inside the node.
        node.run(["ip", "link", "add", "lcup-eth1", "type", "veth", "peer", "name", "lcup-peer"])
        yield node
    finally:
        node.stop()


def test_an_external_flat_network_uplinks_the_configured_interface(uplinked: Node) -> None:
    node = uplinked
    node.labcloud("init")
    node.labcloud(
        "network",
        "create",
        "public",
        "--external",
        "--provider-network-type",
        "flat",
        "--provider-physical-network",
        "public",
    )
    bridge = node.labcloud(
        "network", "show", "public", "-f", "value", "-c", "bridge"
    ).stdout.strip()
    assert f"master {bridge}" in node.run(["ip", "link", "show", "lcup-eth1"]).stdout
    # One flat network per physical network; an unknown physnet is refused.
    taken = node.labcloud(
        "network",
        "create",
        "public2",
        "--provider-network-type",
        "flat",
        "--provider-physical-network",
        "public",
        check=False,
    )
    assert taken.returncode == 4 and "already carries flat network public" in taken.stderr
    unknown = node.labcloud(
        "network",
        "create",
        "x",
        "--provider-network-type",
        "flat",
        "--provider-physical-network",
        "nowhere",
        check=False,
    )
    assert unknown.returncode == 2 and "not in lab.toml" in unknown.stderr
    node.labcloud("network", "delete", "public")
    assert "master" not in node.run(["ip", "link", "show", "lcup-eth1"]).stdout
