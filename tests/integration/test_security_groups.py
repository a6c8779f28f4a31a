"""A user's story of security groups on a real node. The "probe" is a namespace plugged in
as a labcloud port (its tap name, MAC and address), so the port's groups and the
anti-spoofing filter apply to it exactly as they do to a server's NIC."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from labcloud.errors import EXIT_CODES
from tests.harness import Node
from tests.integration.l3_helpers import NetnsHost, http_get, js, make_net, probe_on_port, server_ip

READY = "labcloud-tiny: ready"


@dataclass
class SgLab:
    lab: Node
    probe: NetnsHost
    probe_ip: str
    web_ip: str

    def get(self) -> str | None:
        return http_get(self.lab, "probe", self.web_ip)


@pytest.fixture(scope="module")
def sg(lab: Node) -> Iterator[SgLab]:
    make_net(lab, "sg-net", "10.41.0.0/24")
    lab.labcloud("port", "create", "sg-probe", "--network", "sg-net")
    probe = probe_on_port(lab, "probe", "sg-probe", 24, "10.41.0.1")
    try:
        lab.labcloud(
            "server",
            "create",
            "sgweb",
            "--image",
            "tiny",
            "--flavor",
            "m1.nano",
            "--network",
            "sg-net",
            "--security-group",
            "default",
            "--wait",
        )
        lab.labcloud("console", "log", "sgweb", "--wait-for", READY, "--timeout", "180")
        probe_ip = str(js(lab, "port", "show", "sg-probe")["fixed_ips"]).split("'")[1]
        yield SgLab(lab, probe, probe_ip, server_ip(lab, "sgweb"))
    finally:
        lab.labcloud("server", "delete", "sgweb", check=False)
        probe.remove()
        lab.labcloud("port", "delete", "sg-probe", check=False)
        for group in ("sg-outsiders", "sg-web"):
            lab.labcloud("security", "group", "delete", group, check=False)
        lab.labcloud("network", "delete", "sg-net", check=False)


def test_the_default_group_admits_its_members_and_no_one_else(sg: SgLab) -> None:
    lab = sg.lab
    # A port with no group sends nothing at all.
    assert sg.get() is None
    lab.labcloud("security", "group", "create", "sg-outsiders")  # all egress, no ingress
    lab.labcloud("port", "add", "security", "group", "sg-probe", "sg-outsiders")
    assert sg.get() is None  # the probe may send, but sgweb's default group refuses it

    lab.labcloud("port", "add", "security", "group", "sg-probe", "default")
    assert sg.get() == "sgweb"  # now a member of sgweb's group
    lab.labcloud("port", "remove", "security", "group", "sg-probe", "default")
    assert sg.get() is None


def test_a_rule_opens_and_closes_a_tcp_port(sg: SgLab) -> None:
    lab = sg.lab
    lab.labcloud("security", "group", "create", "sg-web")
    lab.labcloud("server", "add", "security", "group", "sgweb", "sg-web")
    assert sg.get() is None

    elsewhere = js(
        lab,
        "security",
        "group",
        "rule",
        "create",
        "sg-web",
        "--protocol",
        "tcp",
        "--dst-port",
        "81:90",
        "--remote-ip",
        "10.41.0.0/24",
    )
    assert sg.get() is None  # 80 is not in 81-90

    rule = js(
        lab,
        "security",
        "group",
        "rule",
        "create",
        "sg-web",
        "--protocol",
        "tcp",
        "--dst-port",
        "80",
        "--remote-ip",
        "10.41.0.0/24",
    )
    assert rule["port_range"] == "80:80" and rule["direction"] == "ingress"
    assert sg.get() == "sgweb"

    lab.labcloud("security", "group", "rule", "delete", str(rule["id"]))
    assert sg.get() is None
    lab.labcloud("security", "group", "rule", "delete", str(elsewhere["id"]))
    listed = json.loads(
        lab.labcloud("security", "group", "rule", "list", "sg-web", "-f", "json").stdout
    )
    assert [(r["Direction"], r["IP Protocol"]) for r in listed] == [("egress", "any")]


def test_a_spoofed_source_is_dropped_unless_port_security_is_off(sg: SgLab) -> None:
    lab = sg.lab
    lab.labcloud(
        "security",
        "group",
        "rule",
        "create",
        "sg-web",
        "--protocol",
        "tcp",
        "--dst-port",
        "80",
        "--remote-ip",
        "0.0.0.0/0",
    )
    assert sg.get() == "sgweb"

    spoofed = "10.41.0.99"
    sg.probe.set_ip(sg.probe_ip, spoofed, 24)
    try:
        assert sg.get() is None  # another address than the port's: dropped at the tap
    finally:
        sg.probe.set_ip(spoofed, sg.probe_ip, 24)
    assert sg.get() == "sgweb"

    mac = str(js(lab, "port", "show", "sg-probe")["mac_address"])
    sg.probe.run("ip", "link", "set", "eth0", "address", "fa:16:3e:00:00:99")
    try:
        assert sg.get() is None  # another MAC than the port's: dropped too
    finally:
        sg.probe.run("ip", "link", "set", "eth0", "address", mac)
    assert sg.get() == "sgweb"

    # A port without port security: no filter and no anti-spoofing on its tap.
    lab.labcloud("port", "create", "sg-open", "--network", "sg-net", "--disable-port-security")
    shown = js(lab, "port", "show", "sg-open")
    assert shown["port_security_enabled"] is False
    free = probe_on_port(lab, "free", "sg-open", 24, "10.41.0.1")
    try:
        free.set_ip(
            str(shown["fixed_ips"]).split("ip_address='")[1].split("'")[0], "10.41.0.98", 24
        )
        assert http_get(lab, "free", sg.web_ip) == "sgweb"
    finally:
        free.remove()
        lab.labcloud("port", "delete", "sg-open", check=False)


@pytest.mark.parametrize(
    ("argv", "code", "text"),
    [
        (("--protocol", "tcp", "--dst-port", "90:80"), "usage", "invalid port range"),
        (("--protocol", "tcp", "--dst-port", "http"), "usage", "invalid port range"),
        (("--protocol", "tcp", "--dst-port", "0"), "usage", "invalid port range"),
        (("--protocol", "gre"), "usage", "invalid protocol"),
        (("--protocol", "icmp", "--dst-port", "8"), "usage", "--dst-port needs"),
        (("--remote-ip", "10.0.0.0/33"), "usage", "invalid --remote-ip"),
        (("--remote-ip", "10.0.0.x/8"), "usage", "invalid --remote-ip"),
        (("--remote-ip", "10.0.0.0/8", "--remote-group", "default"), "usage", "not both"),
        (("--remote-group", "nosuch"), "not_found", "no security group"),
        (("--ethertype", "IPv6"), "usage", "not supported"),
    ],
)
def test_a_malformed_rule_is_one_line_and_adds_nothing(
    lab: Node, argv: tuple[str, ...], code: str, text: str
) -> None:
    before = lab.labcloud("security", "group", "rule", "list", "-f", "json").stdout
    proc = lab.labcloud("security", "group", "rule", "create", "default", *argv, check=False)
    assert proc.returncode == EXIT_CODES[code], proc.stderr
    assert text in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert lab.labcloud("security", "group", "rule", "list", "-f", "json").stdout == before


def test_groups_that_cannot_go_are_refused(sg: SgLab) -> None:
    lab = sg.lab
    proc = lab.labcloud("security", "group", "delete", "default", check=False)
    assert proc.returncode == EXIT_CODES["conflict"] and "cannot be deleted" in proc.stderr
    proc = lab.labcloud("security", "group", "delete", "sg-web", check=False)
    assert proc.returncode == EXIT_CODES["conflict"] and "in use" in proc.stderr
    proc = lab.labcloud("security", "group", "create", "x" * 65, check=False)
    assert proc.returncode == EXIT_CODES["usage"] and "invalid security group name" in proc.stderr
    servers = lab.labcloud("server", "list", "-f", "json").stdout
    proc = lab.labcloud(
        "server",
        "create",
        "sgbad",
        "--image",
        "tiny",
        "--flavor",
        "m1.nano",
        "--network",
        "sg-net",
        "--security-group",
        "nosuch",
        check=False,
    )
    assert proc.returncode == EXIT_CODES["not_found"] and "no security group" in proc.stderr
    assert lab.labcloud("server", "list", "-f", "json").stdout == servers
