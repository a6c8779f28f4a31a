"""Kill a real `labcloud` with SIGKILL at every journalled step of network create and delete,
a port create, a router's `add subnet`, and floating IP create and delete. The next start
(any command) finishes the operation or rolls it back: no bridge, namespace, dnsmasq, port
or row is left half-made, and `doctor` finds nothing to repair."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.harness import Node
from tests.integration.l3_helpers import js, make_net
from tests.integration.test_crash_consistency import labcloud_killed_at
from tests.integration.test_network import dhcp_lease, dhcp_pids, links

NET = "crash-net"


def netns_names(lab: Node) -> list[str]:
    return [line.split()[0] for line in lab.run(["ip", "netns", "list"]).stdout.splitlines()]


def network_names(lab: Node) -> list[str]:
    return lab.labcloud("network", "list", "-f", "value", "-c", "Name").stdout.split()


def assert_doctor_is_happy(lab: Node) -> None:
    assert json.loads(lab.labcloud("doctor", "-f", "json").stdout) == []


def events(lab: Node) -> str:
    return lab.labcloud("event", "list", "-f", "json").stdout


@pytest.mark.parametrize("step", ["l2", "finish"])
def test_network_create_killed_at_each_step(lab: Node, step: str) -> None:
    bridges = {n for n in links(lab) if n.startswith("lcbr-")}
    labcloud_killed_at(lab, f"network.create:{step}", "network", "create", NET)
    # The next start recovers, and its doctor says what it did.
    found = json.loads(lab.labcloud("doctor", "-f", "json").stdout)
    outcome = "finished" if step == "finish" else "rolled back"
    assert [(f["Kind"], f["Resource"], f["Detail"]) for f in found] == [
        ("interrupted-operation", NET, f"network.create: {outcome}")
    ]
    names = network_names(lab)
    if step == "finish":  # the bridge was made: the create is finished, not undone
        net = js(lab, "network", "show", NET)
        assert net["status"] == "ACTIVE" and net["bridge"] in links(lab)
        lab.labcloud("network", "delete", NET)
    else:
        assert NET not in names
        assert "create rolled back" in events(lab)
    assert {n for n in links(lab) if n.startswith("lcbr-")} == bridges
    assert_doctor_is_happy(lab)


@pytest.mark.parametrize("step", ["dhcp", "l2", "finish"])
def test_network_delete_killed_at_each_step_is_finished(lab: Node, step: str) -> None:
    lab.labcloud("network", "create", NET)
    lab.labcloud(
        "subnet", "create", f"{NET}-sub", "--network", NET, "--subnet-range", "10.44.0.0/24"
    )
    net = js(lab, "network", "show", NET)
    bridge = str(net["bridge"])
    pid, supervisor = dhcp_pids(lab, bridge)
    assert pid is not None and supervisor is not None
    labcloud_killed_at(lab, f"network.delete:{step}", "network", "delete", NET)
    assert NET not in network_names(lab)
    assert bridge not in links(lab)
    assert not [n for n in netns_names(lab) if n.endswith(bridge[5:])]  # DHCP namespace
    assert dhcp_pids(lab, bridge) == (None, None)  # no dnsmasq, no supervisor
    assert_doctor_is_happy(lab)


def test_port_create_killed_before_dhcp_learns_it_is_rolled_forward(lab: Node) -> None:
    lab.labcloud("network", "create", NET)
    lab.labcloud(
        "subnet", "create", f"{NET}-sub", "--network", NET, "--subnet-range", "10.44.0.0/24"
    )
    bridge = str(js(lab, "network", "show", NET)["bridge"])
    try:
        labcloud_killed_at(
            lab,
            "port.create:dhcp",
            "port",
            "create",
            "crash-port",
            "--network",
            NET,
            "--fixed-ip",
            "ip-address=10.44.0.20",
        )
        port = js(lab, "port", "show", "crash-port")  # the row was committed with the journal
        # The next start synced DHCP: the port's MAC is offered its address.
        assert "lease of 10.44.0.20 obtained" in dhcp_lease(lab, port, bridge)
        assert_doctor_is_happy(lab)
    finally:
        lab.labcloud("port", "delete", "crash-port", check=False)
        lab.labcloud("network", "delete", NET, check=False)


@pytest.mark.parametrize("step", ["port", "sync", "finish"])
def test_router_add_subnet_killed_at_each_step(lab: Node, step: str) -> None:
    lab.labcloud("network", "create", NET)
    lab.labcloud(
        "subnet", "create", f"{NET}-sub", "--network", NET, "--subnet-range", "10.44.0.0/24"
    )
    lab.labcloud("router", "create", "crash-router")
    namespace = str(js(lab, "router", "show", "crash-router")["namespace"])
    try:
        labcloud_killed_at(
            lab,
            f"router.add_subnet:{step}",
            "router",
            "add",
            "subnet",
            "crash-router",
            f"{NET}-sub",
        )
        shown = js(lab, "router", "show", "crash-router")  # this start recovers
        addresses = lab.run(["ip", "netns", "exec", namespace, "ip", "-o", "addr"]).stdout
        if step == "port":  # no leg was made yet: rolled back
            assert "10.44.0.1" not in str(shown["interfaces_info"])
            assert "10.44.0.1/24" not in addresses
        else:  # the leg's port is in the store: rolled forward, the namespace has the leg
            assert "10.44.0.1" in str(shown["interfaces_info"])
            assert "10.44.0.1/24" in addresses
        assert_doctor_is_happy(lab)
        if step != "port":
            lab.labcloud("router", "remove", "subnet", "crash-router", f"{NET}-sub")
    finally:
        lab.labcloud("router", "delete", "crash-router", check=False)
        lab.labcloud("network", "delete", NET, check=False)
    assert namespace not in netns_names(lab)


@pytest.fixture
def external(lab: Node) -> Iterator[str]:
    make_net(lab, "crash-ext", "198.51.100.0/24", "--no-dhcp", external=True)
    yield "crash-ext"
    for fip in lab.labcloud("floating", "ip", "list", "-f", "value", "-c", "ID").stdout.split():
        lab.labcloud("floating", "ip", "delete", fip, check=False)
    lab.labcloud("network", "delete", "crash-ext", check=False)


def floating_ports(lab: Node) -> list[str]:
    rows = json.loads(lab.labcloud("port", "list", "--network", "crash-ext", "-f", "json").stdout)
    return [r["ID"] for r in rows]


@pytest.mark.parametrize("step", ["port", "record"])
def test_floating_ip_create_killed_at_each_step_is_rolled_back(
    lab: Node, external: str, step: str
) -> None:
    labcloud_killed_at(lab, f"floating_ip.create:{step}", "floating", "ip", "create", external)
    listed = lab.labcloud("floating", "ip", "list", "-f", "json").stdout  # this start recovers
    assert json.loads(listed) == []
    assert floating_ports(lab) == []  # the port that held the address is gone too
    assert_doctor_is_happy(lab)


@pytest.mark.parametrize("step", ["disassociate", "port", "finish"])
def test_floating_ip_delete_killed_at_each_step_is_finished(
    lab: Node, external: str, step: str
) -> None:
    fip = js(lab, "floating", "ip", "create", external)
    address = str(fip["floating_ip_address"])
    labcloud_killed_at(lab, f"floating_ip.delete:{step}", "floating", "ip", "delete", address)
    assert json.loads(lab.labcloud("floating", "ip", "list", "-f", "json").stdout) == []
    assert floating_ports(lab) == []
    assert_doctor_is_happy(lab)
