"""A user's story of admin state and port security on a running server: a disabled port or
network cuts the server off (its tap or the bridge goes down) and enabling it brings it back;
port security turned off or on for an unbound port is in force at once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.harness import Node
from tests.integration.l3_helpers import NetnsHost, js, make_net, probe_on_port, server_ip

NET, CIDR = "adm-net", "10.43.0.0/24"
READY = "labcloud-tiny: ready"


@dataclass
class AdminLab:
    lab: Node
    probe: NetnsHost
    server_ip: str
    tap: str
    bridge: str

    def pings(self) -> bool:
        """Whether the server answers a ping from the probe (a few tries: ARP may be cold)."""
        ping = ["ip", "netns", "exec", self.probe.netns, "busybox", "ping", "-c", "1", "-W", "1"]
        for _ in range(3):
            if self.lab.run([*ping, self.server_ip], check=False).returncode == 0:
                return True
        return False

    def link_up(self, name: str) -> bool:
        out = self.lab.run(["ip", "-o", "link", "show", name]).stdout
        return "<" in out and "UP" in out.split("<", 1)[1].split(">", 1)[0].split(",")


@pytest.fixture(scope="module")
def adm(lab: Node) -> Iterator[AdminLab]:
    bridge = make_net(lab, NET, CIDR)
    # The server's port has no filter, so only admin state decides whether it answers.
    lab.labcloud("port", "create", "adm-web", "--network", NET, "--disable-port-security")
    lab.labcloud("port", "create", "adm-probe", "--network", NET, "--disable-port-security")
    probe = probe_on_port(lab, "admprobe", "adm-probe", 24, "10.43.0.1")
    try:
        lab.labcloud(
            "server",
            "create",
            "admweb",
            "--image",
            "tiny",
            "--flavor",
            "m1.nano",
            "--port",
            "adm-web",
            "--wait",
        )
        lab.labcloud("console", "log", "admweb", "--wait-for", READY, "--timeout", "180")
        tap = str(js(lab, "port", "show", "adm-web")["binding:tap"])
        yield AdminLab(lab, probe, server_ip(lab, "admweb"), tap, bridge)
    finally:
        lab.labcloud("server", "delete", "admweb", check=False)
        probe.remove()
        lab.labcloud("port", "delete", "adm-probe", "adm-web", check=False)
        lab.labcloud("network", "delete", NET, check=False)


def test_a_disabled_port_cuts_the_server_off_until_enabled(adm: AdminLab) -> None:
    lab = adm.lab
    assert adm.pings()

    lab.labcloud("port", "set", "adm-web", "--disable")
    shown = js(lab, "port", "show", "adm-web")
    assert (shown["admin_state_up"], shown["status"]) == (False, "DOWN")
    assert not adm.link_up(adm.tap)
    assert not adm.pings()
    # doctor agrees: nothing to repair while the tap is down as asked.
    assert "port-state" not in lab.labcloud("doctor", "-f", "value", "-c", "Kind").stdout

    lab.labcloud("port", "set", "adm-web", "--enable")
    assert js(lab, "port", "show", "adm-web")["status"] == "ACTIVE"
    assert adm.link_up(adm.tap)
    assert adm.pings()


def test_a_disabled_network_downs_its_bridge_until_enabled(adm: AdminLab) -> None:
    lab = adm.lab
    lab.labcloud("network", "set", NET, "--disable")
    shown = js(lab, "network", "show", NET)
    assert (shown["admin_state_up"], shown["status"]) == (False, "DOWN")
    assert not adm.link_up(adm.bridge)
    assert not adm.pings()

    lab.labcloud("network", "set", NET, "--enable")
    assert adm.link_up(adm.bridge)
    assert adm.pings()


def test_port_security_on_an_unbound_port_changes_at_once(adm: AdminLab) -> None:
    lab = adm.lab
    # The probe's port is unbound (no server): it has no security group, so once port
    # security is on, its tap may send nothing at all.
    lab.labcloud("port", "set", "adm-probe", "--enable-port-security")
    assert js(lab, "port", "show", "adm-probe")["port_security_enabled"] is True
    assert not adm.pings()

    lab.labcloud("port", "set", "adm-probe", "--disable-port-security")
    assert adm.pings()
