"""A user's story of IPv6 subnets: the network's dnsmasq sends router advertisements and
serves DHCPv6 in the mode the subnet names (Neutron's slaac, dhcpv6-stateless and
dhcpv6-stateful). The tiny guest configures no IPv6 itself, so the client is a namespace
on the network's bridge with a port's MAC: the kernel's own SLAAC forms the port's address
from the advertised prefix, and a DHCPv6 Solicit is offered the port's address."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from labcloud.errors import EXIT_CODES
from tests.harness import Node
from tests.integration.l3_helpers import NetnsHost, js

NET = "v6-net"

# A one-shot DHCPv6 client (RFC 8415 Solicit -> Advertise): prints the offered address.
_SOLICIT = """
import os, socket, struct, sys
iface, mac = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", ""))
duid = struct.pack("!HH", 3, 1) + mac  # DUID-LL: dnsmasq finds the MAC in it
opts = struct.pack("!HH", 1, len(duid)) + duid
opts += struct.pack("!HHH", 8, 2, 0)  # elapsed time
opts += struct.pack("!HHIII", 3, 12, 1, 0, 0)  # IA_NA, IAID 1
xid = os.urandom(3)
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
s.bind(("::", 546))
s.settimeout(2)
scope = socket.if_nametoindex(iface)
for _ in range(10):
    s.sendto(b"\\x01" + xid + opts, ("ff02::1:2", 547, 0, scope))
    try:
        data = s.recv(2048)
    except TimeoutError:
        continue
    if data[0] != 2 or data[1:4] != xid:
        continue
    i = 4
    while i + 4 <= len(data):
        code, size = struct.unpack("!HH", data[i:i + 4])
        body = data[i + 4:i + 4 + size]
        if code == 3:  # IA_NA: IAID, T1, T2, then its own options
            j = 12
            while j + 4 <= len(body):
                c2, n2 = struct.unpack("!HH", body[j:j + 4])
                if c2 == 5:  # IAADDR
                    print(socket.inet_ntop(socket.AF_INET6, body[j + 4:j + 20]))
                    sys.exit(0)
                j += 4 + n2
        i += 4 + size
sys.exit("no DHCPv6 address offered")
"""


def v6_client(lab: Node, bridge: str, mac: str) -> NetnsHost:
    """A namespace on the bridge with the port's MAC, taking router advertisements as any
    host does (no port security: it is not a port's tap)."""
    ns, outer = "v6client", "lcv6cli0"
    lab.run(["ip", "netns", "add", ns])
    lab.run(["ip", "link", "add", outer, "type", "veth", "peer", "name", "eth0", "netns", ns])
    lab.run(["ip", "link", "set", outer, "master", bridge, "up"])
    host = NetnsHost(lab, ns, outer)
    host.run("ip", "link", "set", "eth0", "address", mac)
    for key in ("accept_ra=1", "autoconf=1", "accept_dad=0"):
        host.run("sysctl", "-q", "-w", f"net.ipv6.conf.eth0.{key}")
    host.run("ip", "link", "set", "eth0", "up")
    return host


def slaac_address(host: NetnsHost, prefix: str) -> str | None:
    """The global address the kernel formed in `prefix` (polled for up to a minute)."""
    for _ in range(120):
        out = host.run("ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "global")
        for line in out.splitlines():
            addr = line.split()[3].split("/")[0]
            if addr.startswith(prefix) and "dynamic" in line:
                return addr
        time.sleep(0.5)
    return None


def port_ip(port: dict[str, object]) -> str:
    return str(port["fixed_ips"]).split("ip_address='", 1)[1].split("'", 1)[0]


@pytest.fixture
def v6net(lab: Node) -> Iterator[str]:
    lab.labcloud("network", "create", NET)
    yield str(js(lab, "network", "show", NET)["bridge"])
    lab.run(["ip", "link", "del", "lcv6cli0"], check=False)
    lab.run(["ip", "netns", "del", "v6client"], check=False)
    lab.labcloud("port", "delete", "v6-port", check=False)
    lab.labcloud("network", "delete", NET, check=False)


@pytest.mark.parametrize("mode", ["slaac", "dhcpv6-stateless"])
def test_the_kernel_forms_the_ports_address_from_dnsmasqs_advertisement(
    lab: Node, v6net: str, mode: str
) -> None:
    sub = js(
        lab,
        "subnet",
        "create",
        "v6-sub",
        "--network",
        NET,
        "--subnet-range",
        "2001:db8:41::/64",
        "--ipv6-ra-mode",
        mode,
        "--ipv6-address-mode",
        mode,
    )
    assert (sub["ipv6_ra_mode"], sub["ipv6_address_mode"]) == (mode, mode)
    port = js(lab, "port", "create", "v6-port", "--network", NET)
    expected = port_ip(port)  # EUI-64 of the port's MAC, as Neutron computes it
    assert expected.startswith("2001:db8:41:0:")

    host = v6_client(lab, v6net, str(port["mac_address"]))
    assert slaac_address(host, "2001:db8:41:") == expected


def test_dhcpv6_stateful_offers_the_ports_address(lab: Node, v6net: str) -> None:
    lab.labcloud(
        "subnet",
        "create",
        "v6-sub",
        "--network",
        NET,
        "--subnet-range",
        "2001:db8:42::/64",
        "--ipv6-address-mode",
        "dhcpv6-stateful",
    )
    port = js(lab, "port", "create", "v6-port", "--network", NET)
    host = v6_client(lab, v6net, str(port["mac_address"]))
    offered = host.run("python3", "-c", _SOLICIT, "eth0", str(port["mac_address"])).strip()
    assert offered == port_ip(port)


@pytest.mark.parametrize(
    ("argv", "text"),
    [
        (("10.45.0.0/24", "--ipv6-ra-mode", "slaac"), "are for IPv6 subnets"),
        (("2001:db8:43::/64", "--ipv6-address-mode", "dhcp"), "invalid --ipv6-address-mode"),
        (
            (
                "2001:db8:43::/64",
                "--ipv6-ra-mode",
                "slaac",
                "--ipv6-address-mode",
                "dhcpv6-stateful",
            ),
            "disagree",
        ),
        (("2001:db8:43::/80", "--ipv6-address-mode", "slaac"), "needs a /64 prefix"),
    ],
)
def test_bad_ipv6_modes_are_one_line_and_make_nothing(
    lab: Node, v6net: str, argv: tuple[str, ...], text: str
) -> None:
    cidr, *flags = argv
    proc = lab.labcloud(
        "subnet",
        "create",
        "v6-bad",
        "--network",
        NET,
        "--subnet-range",
        cidr,
        *flags,
        check=False,
    )
    assert proc.returncode == EXIT_CODES["usage"], proc.stderr
    assert text in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert "v6-bad" not in lab.labcloud("subnet", "list", "-f", "value", "-c", "Name").stdout
