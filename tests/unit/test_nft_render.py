"""The security group and router NAT rulesets: what nft text a set of rules produces."""

from __future__ import annotations

import pytest
from labcloud.backends.nftables import render_filter, render_nat, zones_for

from labcloud.errors import BackendError

WEB = {
    "tap": "lctap-0123abcd",
    "mac": "FA:16:3E:00:00:01",
    "ips": ["10.0.0.5"],
    "rules": [
        {
            "direction": "ingress",
            "protocol": "tcp",
            "port_min": 80,
            "port_max": 80,
            "remote_ip_prefix": "0.0.0.0/0",
        },
        {
            "direction": "ingress",
            "protocol": "udp",
            "port_min": 1000,
            "port_max": 2000,
            "remote_ip_prefix": "192.0.2.0/24",
        },
        {"direction": "ingress", "remote_group": "aaaabbbb"},
        {"direction": "egress"},
    ],
}


def chain(text: str, name: str, kind: str = "chain") -> list[str]:
    lines = [line.strip() for line in text.splitlines()]
    start = lines.index(f"{kind} {name} {{")
    return lines[start + 1 : lines.index("}", start)]


def test_the_ruleset_replaces_only_labcloud_tables_in_one_load() -> None:
    text = render_filter({"ports": [WEB], "groups": {"aaaabbbb": ["10.0.0.5", "10.0.0.6"]}})
    heads = [line for line in text.splitlines() if line.startswith(("table", "delete"))]
    assert heads == [
        "table inet labcloud",
        "delete table inet labcloud",
        "table inet labcloud {",
        "table bridge labcloud",
        "delete table bridge labcloud",
        "table bridge labcloud {",
    ]


def test_ingress_rules_become_accepts_after_conntrack_and_a_final_drop() -> None:
    text = render_filter({"ports": [WEB], "groups": {"aaaabbbb": ["10.0.0.6", "10.0.0.5"]}})
    assert chain(text, "to-lctap-0123abcd") == [
        "ether type arp accept",
        "meta mark & 0x10000000 == 0x10000000 accept",
        "meta mark & 0x20000000 == 0x20000000 drop",
        "udp sport 67 udp dport 68 accept",
        "ip saddr 0.0.0.0/0 tcp dport 80 accept",
        "ip saddr 192.0.2.0/24 udp dport 1000-2000 accept",
        "ip saddr @sg-aaaabbbb accept",
        "drop",
    ]
    assert chain(text, "sg-aaaabbbb", "set") == [
        "type ipv4_addr;",
        "elements = { 10.0.0.5, 10.0.0.6 }",
    ]


def test_egress_is_anti_spoofed_before_any_rule() -> None:
    text = render_filter({"ports": [WEB], "groups": {"aaaabbbb": []}})
    egress = chain(text, "from-lctap-0123abcd")
    assert egress[:8] == [
        "ether saddr != fa:16:3e:00:00:01 drop",
        "ether type arp arp saddr ether != fa:16:3e:00:00:01 drop",
        "ether type arp arp saddr ip != { 0.0.0.0, 10.0.0.5 } drop",
        "ether type arp return",
        "ether type != ip drop",
        "ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 return",
        "udp sport 67 udp dport 68 drop",
        "ip saddr != { 10.0.0.5 } drop",
    ]
    assert egress[-2:] == ["ether type ip return", "drop"]
    # An empty remote group is a set without elements (nft refuses an empty { }).
    assert chain(text, "sg-aaaabbbb", "set") == ["type ipv4_addr;"]


def test_taps_are_dispatched_from_forward_input_and_output_hooks() -> None:
    text = render_filter({"ports": [WEB], "groups": {"aaaabbbb": []}})
    forward = chain(text, "forward")
    assert 'iifname vmap { "lctap-0123abcd" : jump from-lctap-0123abcd }' in forward
    assert 'oifname vmap { "lctap-0123abcd" : jump to-lctap-0123abcd }' in forward
    assert not any("oifname" in line for line in chain(text, "input"))
    assert not any("iifname" in line for line in chain(text, "output"))


def test_no_ports_means_empty_base_chains() -> None:
    text = render_filter({"ports": [], "groups": {}})
    assert chain(text, "forward") == ["type filter hook forward priority 0; policy accept;"]


@pytest.mark.parametrize(
    "bad",
    [
        {"tap": "eth0"},
        {"tap": "lctap-0123abcd; flush ruleset"},
        {"mac": "fa:16:3e:00:00:01 drop"},
        {"ips": ["10.0.0.300"]},
        {"rules": [{"direction": "ingress", "protocol": "gre"}]},
    ],
)
def test_hostile_values_never_reach_nft(bad: dict[str, object]) -> None:
    with pytest.raises((BackendError, ValueError)):
        render_filter({"ports": [{**WEB, "rules": [], **bad}], "groups": {}})


def test_router_nat_dnats_and_snats_floating_ips_and_snats_the_rest() -> None:
    text = render_nat(
        {
            "gateway_dev": "lcqg-01234567",
            "gateway_address": "203.0.113.2",
            "snat": True,
            "internal_cidrs": ["10.0.1.0/24", "10.0.0.0/24"],
            "floating_ips": [{"floating": "203.0.113.50", "fixed": "10.0.0.5"}],
        }
    )
    assert chain(text, "prerouting")[1:] == ["ip daddr 203.0.113.50 dnat to 10.0.0.5"]
    assert chain(text, "postrouting")[1:] == [
        'oifname "lcqg-01234567" ip saddr 10.0.0.5 snat to 203.0.113.50',
        'oifname "lcqg-01234567" ip saddr { 10.0.0.0/24, 10.0.1.0/24 } snat to 203.0.113.2',
    ]


def test_router_without_gateway_has_no_snat() -> None:
    text = render_nat({"gateway_dev": None, "internal_cidrs": ["10.0.0.0/24"], "snat": True})
    assert chain(text, "postrouting")[1:] == []


def test_each_bridge_gets_its_own_stable_conntrack_zone() -> None:
    zones = zones_for(["lcbr-0000abcd", "lcbr-ffffffff"])
    assert zones == {"lcbr-0000abcd": 0xABCD % 65000 + 1, "lcbr-ffffffff": 0xFFFFFFFF % 65000 + 1}
    # A new bridge leaves the others' zones alone (their connections stay tracked).
    assert zones_for(["lcbr-0000abcd", "lcbr-ffffffff", "lcbr-12345678"]).items() >= zones.items()
    # A clash moves to the next free number.
    clash = zones_for(["lcbr-00000001", f"lcbr-{65001:08x}"])
    assert sorted(clash.values()) == [2, 3]
    text = render_filter({"ports": [], "zones": zones})
    assert chain(text, "ctzone")[-1] == (
        'ct zone set iifname map { "lcbr-0000abcd" : 43982, "lcbr-ffffffff" : 27296 }'
    )
