"""A user's story of routers and floating IPs on a real node: two subnets joined by a
router, SNAT to the outside, a floating IP reached from an "outside" namespace on the
external network's bridge, bad input refused whole, and doctor rebuilding what was lost."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from labcloud.errors import EXIT_CODES
from tests.harness import Node
from tests.integration.l3_helpers import (
    NetnsHost,
    http_get,
    js,
    make_net,
    netns_host,
    server_ip,
    whoami_server,
)

READY = "labcloud-tiny: ready"
OUTSIDE_IP = "203.0.113.1"  # the external subnet's gateway: the "outside" namespace
FIP = "203.0.113.50"

# The client guest polls the web server across the router, then the outside, with busybox
# nc (its static wget cannot resolve); each answer is printed on its console once.
PROBE = """#!/bin/sh
get() {{ printf 'GET %s HTTP/1.0\\r\\n\\r\\n' "$2" | nc -w 2 "$1" 80 | tail -n 1; }}
(
  until b=$(get {web} /hostname) && [ -n "$b" ]; do sleep 1; done
  echo "probe: reached $b" >/dev/console
  until o=$(get {outside} /) && [ -n "$o" ]; do sleep 1; done
  echo "probe: outside sees $o" >/dev/console
) </dev/null >/dev/null 2>&1 &
"""


@dataclass
class L3Lab:
    lab: Node
    outside: NetnsHost
    web_ip: str
    gateway_ip: str


def namespace_of(lab: Node, router: str) -> str:
    return str(js(lab, "router", "show", router)["namespace"])


@pytest.fixture(scope="module")
def l3(lab: Node) -> Iterator[L3Lab]:
    make_net(lab, "rt-net1", "10.31.0.0/24")
    make_net(lab, "rt-net2", "10.32.0.0/24")
    public = make_net(
        lab, "rt-public", "203.0.113.0/24", "--gateway", OUTSIDE_IP, "--no-dhcp", external=True
    )
    lab.labcloud("router", "create", "rt1")
    lab.labcloud("router", "add", "subnet", "rt1", "rt-net1-sub")
    lab.labcloud("router", "add", "subnet", "rt1", "rt-net2-sub")
    lab.labcloud("router", "set", "rt1", "--external-gateway", "rt-public")
    outside = netns_host(lab, "outside", "outside0", public, f"{OUTSIDE_IP}/24")
    whoami = whoami_server(outside, OUTSIDE_IP)
    servers: list[str] = []
    try:
        lab.labcloud(
            "server",
            "create",
            "web",
            "--image",
            "tiny",
            "--flavor",
            "m1.nano",
            "--network",
            "rt-net2",
            "--wait",
        )
        servers.append("web")
        web_ip = server_ip(lab, "web")
        probe = lab.workdir / "probe.sh"
        probe.write_text(PROBE.format(web=web_ip, outside=OUTSIDE_IP))
        lab.labcloud(
            "server",
            "create",
            "client",
            "--image",
            "tiny",
            "--flavor",
            "m1.nano",
            "--network",
            "rt-net1",
            "--user-data",
            str(probe),
            "--wait",
        )
        servers.append("client")
        gw = json.loads(lab.labcloud("router", "show", "rt1", "-f", "json").stdout)
        gateway_ip = str(gw["external_gateway_info"]).split("ip_address='")[1].split("'")[0]
        yield L3Lab(lab, outside, web_ip, gateway_ip)
    finally:
        for fip in json.loads(lab.labcloud("floating", "ip", "list", "-f", "json").stdout):
            lab.labcloud("floating", "ip", "delete", fip["ID"], check=False)
        for name in servers:
            lab.labcloud("server", "delete", name, check=False)
        whoami.terminate()
        whoami.wait(10)
        outside.remove()
        for sub in ("rt-net1-sub", "rt-net2-sub"):
            lab.labcloud("router", "remove", "subnet", "rt1", sub, check=False)
        lab.labcloud("router", "delete", "rt1", check=False)
        lab.labcloud("security", "group", "delete", "rt-http", check=False)
        for net in ("rt-net1", "rt-net2", "rt-public"):
            lab.labcloud("network", "delete", net, check=False)


def test_servers_on_two_subnets_reach_each_other_through_the_router(l3: L3Lab) -> None:
    lab = l3.lab
    shown = js(lab, "router", "show", "rt1")
    assert "subnet='rt-net1-sub', ip_address='10.31.0.1'" in str(shown["interfaces_info"])
    assert "subnet='rt-net2-sub', ip_address='10.32.0.1'" in str(shown["interfaces_info"])
    console = lab.labcloud(
        "console", "log", "client", "--wait-for", "probe: reached web", "--timeout", "180"
    ).stdout
    assert "probe: reached web" in console
    # The router's namespace holds both gateway addresses and forwards between them.
    ns = namespace_of(lab, "rt1")
    addrs = lab.run(["ip", "-n", ns, "-4", "-o", "addr", "show"]).stdout
    assert "10.31.0.1/24" in addrs and "10.32.0.1/24" in addrs
    assert (
        lab.run(["ip", "netns", "exec", ns, "sysctl", "-n", "net.ipv4.ip_forward"]).stdout.strip()
        == "1"
    )


def test_the_router_snats_servers_to_its_external_gateway_address(l3: L3Lab) -> None:
    console = l3.lab.labcloud(
        "console", "log", "client", "--wait-for", "probe: outside sees", "--timeout", "180"
    ).stdout
    assert f"probe: outside sees {l3.gateway_ip}" in console


def test_a_floating_ip_is_reachable_from_outside(l3: L3Lab) -> None:
    lab = l3.lab
    lab.labcloud("console", "log", "web", "--wait-for", READY, "--timeout", "180")
    # The default group lets in only its own members: open HTTP to the world.
    lab.labcloud("security", "group", "create", "rt-http")
    lab.labcloud(
        "security",
        "group",
        "rule",
        "create",
        "rt-http",
        "--protocol",
        "tcp",
        "--dst-port",
        "80",
        "--remote-ip",
        "0.0.0.0/0",
    )
    lab.labcloud("server", "add", "security", "group", "web", "rt-http")

    created = js(lab, "floating", "ip", "create", "rt-public", "--floating-ip-address", FIP)
    assert created["floating_ip_address"] == FIP and created["port_id"] is None
    assert http_get(lab, "outside", FIP) is None  # not NATed to anything yet

    lab.labcloud("server", "add", "floating", "ip", "web", FIP)
    shown = js(lab, "floating", "ip", "show", FIP)
    assert shown["fixed_ip_address"] == l3.web_ip and shown["status"] == "ACTIVE"
    assert http_get(lab, "outside", FIP) == "web"
    topology = lab.labcloud("network", "topology").stdout
    assert f"[floating IP {FIP}]" in topology
    assert f"router rt1 gateway {l3.gateway_ip}" in topology

    lab.labcloud("server", "remove", "floating", "ip", "web", FIP)
    assert http_get(lab, "outside", FIP) is None
    lab.labcloud("server", "add", "floating", "ip", "web", FIP)
    assert http_get(lab, "outside", FIP) == "web"


def test_bad_input_is_one_line_and_leaves_nothing_half_made(l3: L3Lab) -> None:
    lab = l3.lab
    ports_before = lab.labcloud("port", "list", "-f", "json").stdout
    routers_before = lab.labcloud("router", "list", "-f", "json").stdout
    make_net(lab, "rt-nogw", "10.39.0.0/24", "--gateway", "none")
    try:
        ports_before = lab.labcloud("port", "list", "-f", "json").stdout
        cases = [
            (("router", "add", "subnet", "rt1", "rt-nogw-sub"), "usage", "has no gateway IP"),
            (("floating", "ip", "create", "rt-net1"), "usage", "is not external"),
            (("router", "delete", "rt1"), "conflict", "still has interfaces"),
            (("router", "create", "r" * 65), "usage", "invalid router name"),
            (("router", "set", "rt1", "--external-gateway", "rt-net1"), "usage", "not external"),
            (
                ("floating", "ip", "create", "rt-public", "--floating-ip-address", "10.0.0.1"),
                "usage",
                "is not in a subnet",
            ),
            (
                ("server", "add", "floating", "ip", "web", "203.0.113.99"),
                "not_found",
                "no floating IP",
            ),
        ]
        for argv, code, text in cases:
            proc = lab.labcloud(*argv, check=False)
            assert proc.returncode == EXIT_CODES[code], (argv, proc.stderr)
            assert text in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
        assert lab.labcloud("port", "list", "-f", "json").stdout == ports_before
        assert lab.labcloud("router", "list", "-f", "json").stdout == routers_before
    finally:
        lab.labcloud("network", "delete", "rt-nogw", check=False)


def test_doctor_rebuilds_a_lost_router_namespace(l3: L3Lab) -> None:
    lab = l3.lab
    lab.labcloud("server", "add", "floating", "ip", "web", FIP, check=False)
    ns = namespace_of(lab, "rt1")
    lab.run(["ip", "netns", "del", ns])
    assert http_get(lab, "outside", FIP) is None

    found = json.loads(lab.labcloud("doctor", "-f", "json").stdout)
    assert {"Kind": "missing-router-namespace", "Resource": "rt1"}.items() <= next(
        f for f in found if f["Kind"] == "missing-router-namespace"
    ).items()
    repaired = json.loads(lab.labcloud("doctor", "--repair", "-f", "json").stdout)
    assert any(f["Kind"] == "missing-router-namespace" and f["Repaired"] for f in repaired)
    assert http_get(lab, "outside", FIP) == "web"

    # A leg deleted by hand (its veth pair goes whole) is found and plugged again.
    gateway_leg = next(
        name
        for name in lab.run(["ip", "-n", ns, "-o", "link"]).stdout.split()
        if name.startswith("lcqg-")
    ).split("@")[0]
    lab.run(["ip", "link", "del", gateway_leg])
    assert http_get(lab, "outside", FIP) is None
    repaired = json.loads(lab.labcloud("doctor", "--repair", "-f", "json").stdout)
    assert any(f["Kind"] == "missing-router-leg" and f["Repaired"] for f in repaired)
    assert http_get(lab, "outside", FIP) == "web"
    assert not [
        f
        for f in json.loads(lab.labcloud("doctor", "-f", "json").stdout)
        if f["Kind"] in ("missing-router-namespace", "missing-nft-table", "missing-router-leg")
    ]


def test_doctor_reloads_a_lost_security_group_table(l3: L3Lab) -> None:
    lab = l3.lab
    lab.run(["nft", "delete", "table", "bridge", "labcloud"])
    found = json.loads(lab.labcloud("doctor", "-f", "json").stdout)
    assert any(
        f["Kind"] == "missing-nft-table" and f["Resource"] == "bridge labcloud" for f in found
    )
    lab.labcloud("doctor", "--repair")
    tables = lab.run(["nft", "list", "tables"]).stdout
    assert "table bridge labcloud" in tables and "table inet labcloud" in tables
    # Other tables on the node are never touched by labcloud's reloads.
    lab.run(["nft", "add", "table", "ip", "someone_else"])
    try:
        lab.labcloud("doctor", "--repair")
        lab.labcloud("server", "remove", "security", "group", "web", "rt-http")
        assert "table ip someone_else" in lab.run(["nft", "list", "tables"]).stdout
    finally:
        lab.run(["nft", "delete", "table", "ip", "someone_else"], check=False)


def test_deleting_a_server_frees_its_floating_ip_and_the_router_goes_cleanly(l3: L3Lab) -> None:
    lab = l3.lab
    ns = namespace_of(lab, "rt1")
    lab.labcloud("server", "add", "floating", "ip", "web", FIP, check=False)
    assert (
        FIP in lab.run(["ip", "netns", "exec", ns, "nft", "list", "table", "ip", "labcloud"]).stdout
    )

    lab.labcloud("server", "delete", "web")
    shown = js(lab, "floating", "ip", "show", FIP)
    assert shown["port_id"] is None and shown["status"] == "DOWN"  # kept, but let go
    assert (
        FIP
        not in lab.run(["ip", "netns", "exec", ns, "nft", "list", "table", "ip", "labcloud"]).stdout
    )
    assert http_get(lab, "outside", FIP) is None

    lab.labcloud("floating", "ip", "delete", FIP)
    lab.labcloud("router", "remove", "subnet", "rt1", "rt-net1-sub")
    lab.labcloud("router", "remove", "subnet", "rt1", "rt-net2-sub")
    lab.labcloud("router", "set", "rt1", "--no-external-gateway")
    assert "lcqg-" not in lab.run(["ip", "-n", ns, "-o", "link"]).stdout
    lab.labcloud("router", "delete", "rt1")
    assert ns not in lab.run(["ip", "netns", "list"]).stdout
    owners = [p["ID"] for p in json.loads(lab.labcloud("port", "list", "-f", "json").stdout)]
    for port in owners:
        assert not str(js(lab, "port", "show", port)["device_owner"]).startswith("network:router")
