"""IPv6 subnets' pure logic: SLAAC addresses, mode checks, and the dnsmasq files."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from labcloud.backends.dnsmasq import Dnsmasq, _hosts_text

from labcloud.errors import UsageError
from labcloud.services.network import check_ipv6_modes, eui64


def test_a_slaac_address_is_the_prefix_and_the_macs_modified_eui64() -> None:
    net = ipaddress.ip_network("2001:db8:1::/64")
    # The universal/local bit flipped (fa -> f8) and ff:fe in the middle, as the kernel does.
    assert str(eui64(net, "fa:16:3e:2b:27:3c")) == "2001:db8:1:0:f816:3eff:fe2b:273c"


@pytest.mark.parametrize(
    ("cidr", "ra", "address", "text"),
    [
        ("10.0.0.0/24", "slaac", None, "are for IPv6 subnets"),
        ("2001:db8::/64", "slaac", "dhcpv6-stateful", "disagree"),
        ("2001:db8::/64", None, "dhcp", "invalid --ipv6-address-mode"),
        ("2001:db8::/80", None, "slaac", "needs a /64 prefix"),
        ("2001:db8::/80", None, "dhcpv6-stateless", "needs a /64 prefix"),
    ],
)
def test_bad_ipv6_modes_are_refused(cidr: str, ra: str, address: str, text: str) -> None:
    with pytest.raises(UsageError, match=text):
        check_ipv6_modes(ipaddress.ip_network(cidr), ra, address)


def test_stateful_dhcpv6_may_use_any_prefix() -> None:
    check_ipv6_modes(ipaddress.ip_network("2001:db8::/80"), None, "dhcpv6-stateful")


def test_one_hosts_line_per_mac_with_ipv6_in_brackets() -> None:
    hosts = [
        {"mac": "fa:16:3e:00:00:01", "ip": "10.0.0.5", "hostname": "host-10-0-0-5"},
        {"mac": "fa:16:3e:00:00:01", "ip": "2001:db8::5", "hostname": "host-2001-db8--5"},
        {"mac": "fa:16:3e:00:00:02", "ip": "10.0.0.6", "hostname": "host-10-0-0-6"},
    ]
    assert _hosts_text(hosts).splitlines() == [
        "fa:16:3e:00:00:01,10.0.0.5,[2001:db8::5],host-10-0-0-5",
        "fa:16:3e:00:00:02,10.0.0.6,host-10-0-0-6",
    ]


def test_ipv6_ranges_follow_the_mode_and_turn_router_advertisements_on(tmp_path: Path) -> None:
    subnets: list[dict[str, object]] = [
        {"tag": "s0", "cidr": "10.0.0.0/24", "ip_version": 4, "mtu": 1450},
        {"tag": "s1", "cidr": "2001:db8:1::/64", "ip_version": 6, "mode": "slaac", "mtu": 1450},
        {"tag": "s2", "cidr": "2001:db8:2::/64", "ip_version": 6, "mode": "dhcpv6-stateless"},
        {"tag": "s3", "cidr": "2001:db8:3::/64", "ip_version": 6, "mode": "dhcpv6-stateful"},
    ]
    conf = Dnsmasq(tmp_path, "lcdhcp-test").conf_text("lcdhn-test", subnets).splitlines()
    assert "dhcp-range=set:s0,10.0.0.0,static,255.255.255.0,86400s" in conf
    assert "dhcp-range=set:s1,2001:db8:1::,ra-only,64,86400s" in conf
    assert "dhcp-range=set:s2,2001:db8:2::,ra-stateless,64,86400s" in conf
    assert "dhcp-range=set:s3,2001:db8:3::,static,64,86400s" in conf
    assert "enable-ra" in conf
    assert "ra-param=lcdhn-test,mtu:1450,10,0" in conf  # router lifetime 0: not a router


def test_ipv4_only_networks_send_no_router_advertisements(tmp_path: Path) -> None:
    subnets: list[dict[str, object]] = [{"tag": "s0", "cidr": "10.0.0.0/24", "ip_version": 4}]
    conf = Dnsmasq(tmp_path, "lcdhcp-test").conf_text("lcdhn-test", subnets)
    assert "enable-ra" not in conf
