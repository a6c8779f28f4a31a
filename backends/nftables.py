"""Security groups and router NAT as nftables rulesets, applied with one `nft -f` each.

Why `table bridge labcloud` plus a small `table inet labcloud`:
- nftables has no physdev match, so only the bridge family sees which tap a frame comes
  from and goes to (iifname/oifname are the bridge ports there). Anti-spoofing (MAC, ARP,
  source IP) and the per-port rules therefore live in the bridge table.
- Each bridge gets its own conntrack zone (set at priority raw), as Neutron has one per
  network, so overlapping subnets of two projects never share connection state.
- This kernel has no conntrack in the bridge family (nf_conntrack_bridge), so `ct state`
  cannot be used there. br_netfilter (turned on per bridge with nf_call_iptables) runs the
  inet hooks for bridged IPv4, where conntrack works: the inet table's prerouting chain
  copies the verdict of conntrack into two bits of the packet mark, and the bridge chains
  read those bits (established/related accepted, invalid dropped).
Each ruleset is generated whole and loaded as one transaction that deletes and recreates
labcloud's own tables only, so a rule change is atomic and never touches other tables.

The rendering functions are pure (plain dicts in, text out) for unit tests.
"""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess

from labcloud.errors import BackendError

TABLE = "labcloud"
CT_OK = 0x10000000  # packet mark bit: conntrack says established or related
CT_INVALID = 0x20000000  # packet mark bit: conntrack says invalid
_IFNAME = re.compile(r"^lc[a-z]{1,5}-[0-9a-f]{8}$")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_SET = re.compile(r"^[0-9a-f]{8}$")
_PROTOCOLS = ("tcp", "udp", "icmp")


def _ifname(name: object) -> str:
    if not isinstance(name, str) or not _IFNAME.fullmatch(name):
        raise BackendError(f"refusing to filter interface {name!r}: not a labcloud name")
    return name


def _addr(text: object) -> str:
    return str(ipaddress.IPv4Address(str(text)))


def _net(text: object) -> str:
    return str(ipaddress.IPv4Network(str(text), strict=False))


def _elements(items: list[str]) -> str:
    return "{ " + ", ".join(items) + " }"


# -- security groups ------------------------------------------------------------------


def _rule_match(rule: dict[str, object], direction: str) -> str:
    """The match part of one security group rule, as seen on the port's side."""
    parts: list[str] = []
    peer = "saddr" if direction == "ingress" else "daddr"
    if rule.get("remote_ip_prefix"):
        parts.append(f"ip {peer} {_net(rule['remote_ip_prefix'])}")
    elif rule.get("remote_group"):
        group = str(rule["remote_group"])
        if not _SET.fullmatch(group):
            raise BackendError(f"bad remote group key {group!r}")
        parts.append(f"ip {peer} @sg-{group}")
    else:
        parts.append("ether type ip")
    protocol = rule.get("protocol")
    if protocol:
        if protocol not in _PROTOCOLS:
            raise BackendError(f"unknown protocol {protocol!r}")
        low, high = rule.get("port_min"), rule.get("port_max")
        if protocol in ("tcp", "udp") and low is not None:
            span = str(int(low)) if high in (None, low) else f"{int(low)}-{int(high)}"  # type: ignore[arg-type]
            parts.append(f"{protocol} dport {span}")
        elif protocol == "icmp":
            parts.append("ip protocol icmp")
        else:
            parts.append(f"ip protocol {protocol}")
    return " ".join(parts)


def _port_chains(port: dict[str, object]) -> list[str]:
    tap = _ifname(port["tap"])
    mac = str(port["mac"]).lower()
    if not _MAC.fullmatch(mac):
        raise BackendError(f"bad MAC {mac!r} for {tap}")
    ips = sorted({_addr(a) for a in port.get("ips", [])})  # type: ignore[attr-defined]
    rules: list[dict[str, object]] = list(port.get("rules", []))  # type: ignore[call-overload]
    arp_ips = _elements(["0.0.0.0", *ips])
    egress = [
        f"chain from-{tap} {{",
        # Anti-spoofing: only the port's MAC and addresses leave the tap.
        f"ether saddr != {mac} drop",
        f"ether type arp arp saddr ether != {mac} drop",
        f"ether type arp arp saddr ip != {arp_ips} drop",
        "ether type arp return",
        "ether type != ip drop",
        # A DHCP client asks from 0.0.0.0; it may never answer as a DHCP server.
        "ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 return",
        "udp sport 67 udp dport 68 drop",
    ]
    if ips:
        egress.append(f"ip saddr != {_elements(ips)} drop")
    else:
        egress.append("drop")
    egress += [
        f"meta mark & {CT_OK:#x} == {CT_OK:#x} return",
        f"meta mark & {CT_INVALID:#x} == {CT_INVALID:#x} drop",
    ]
    egress += [f"{_rule_match(r, 'egress')} return" for r in rules if r["direction"] == "egress"]
    egress += ["drop", "}"]
    ingress = [
        f"chain to-{tap} {{",
        "ether type arp accept",
        f"meta mark & {CT_OK:#x} == {CT_OK:#x} accept",
        f"meta mark & {CT_INVALID:#x} == {CT_INVALID:#x} drop",
        "udp sport 67 udp dport 68 accept",  # DHCP offers and acks
    ]
    ingress += [f"{_rule_match(r, 'ingress')} accept" for r in rules if r["direction"] == "ingress"]
    ingress += ["drop", "}"]
    return egress + ingress


def _zone_chain(spec: dict[str, object]) -> list[str]:
    """One conntrack zone per bridge (as Neutron has per network), set before conntrack
    looks: two projects' overlapping subnets never share connection state."""
    zones: dict[str, int] = {
        _ifname(b): int(z)  # type: ignore[call-overload]
        for b, z in dict(spec.get("zones", {})).items()  # type: ignore[call-overload]
    }
    lines = ["chain ctzone {", "type filter hook prerouting priority raw; policy accept;"]
    if zones:
        pairs = [f'"{b}" : {z}' for b, z in sorted(zones.items())]
        lines.append(f"ct zone set iifname map {_elements(pairs)}")
    return [*lines, "}"]


def zones_for(bridges: list[str]) -> dict[str, int]:
    """Stable zone numbers (1-65000) from the bridges' names; a clash moves to the next free
    number in name order, so adding a bridge seldom renumbers another."""
    zones: dict[str, int] = {}
    used: set[int] = set()
    for bridge in sorted(set(bridges)):
        zone = int(_ifname(bridge).rsplit("-", 1)[1], 16) % 65000 + 1
        while zone in used:
            zone = zone % 65000 + 1
        used.add(zone)
        zones[bridge] = zone
    return zones


def render_filter(spec: dict[str, object]) -> str:
    """The whole security group ruleset for a node: {"ports": [...], "groups": {...}}.

    A port: {"tap", "mac", "ips": [...], "rules": [{"direction", "protocol", "port_min",
    "port_max", "remote_ip_prefix", "remote_group"}]}. "groups" maps a remote group key
    (8 hex digits) to its members' addresses. Ports without port security are not given.
    """
    ports = sorted(spec.get("ports", []), key=lambda p: str(p["tap"]))  # type: ignore[call-overload]
    groups: dict[str, list[str]] = dict(spec.get("groups", {}))  # type: ignore[call-overload]
    lines = [
        f"table inet {TABLE}",
        f"delete table inet {TABLE}",
        f"table inet {TABLE} {{",
        *_zone_chain(spec),
        "chain ctmark {",
        "type filter hook prerouting priority -150; policy accept;",
        # With br_netfilter the input device here is the bridge itself.
        f'iifname "lcbr-*" ct state established,related meta mark set meta mark | {CT_OK:#x}',
        f'iifname "lcbr-*" ct state invalid meta mark set meta mark | {CT_INVALID:#x}',
        "}",
        "}",
        f"table bridge {TABLE}",
        f"delete table bridge {TABLE}",
        f"table bridge {TABLE} {{",
    ]
    for key in sorted(groups):
        if not _SET.fullmatch(key):
            raise BackendError(f"bad remote group key {key!r}")
        members = sorted({_addr(a) for a in groups[key]})
        lines.append(f"set sg-{key} {{")
        lines.append("type ipv4_addr;")
        if members:
            lines.append(f"elements = {_elements(members)}")
        lines.append("}")
    taps = [_ifname(p["tap"]) for p in ports]
    if taps:
        from_map = _elements([f'"{t}" : jump from-{t}' for t in taps])
        to_map = _elements([f'"{t}" : jump to-{t}' for t in taps])
    hooks = (
        ("forward", True, True),  # port to port on a bridge
        ("input", True, False),  # port to the node itself
        ("output", False, True),  # the node to a port
    )
    for hook, src, dst in hooks:
        lines += [f"chain {hook} {{", f"type filter hook {hook} priority 0; policy accept;"]
        if taps and src:
            lines.append(f"iifname vmap {from_map}")
        if taps and dst:
            lines.append(f"oifname vmap {to_map}")
        lines.append("}")
    for port in ports:
        lines += _port_chains(port)
    lines.append("}")
    return _indent(lines)


def _indent(lines: list[str]) -> str:
    out, depth = [], 0
    for line in lines:
        if line == "}":
            depth -= 1
        out.append("\t" * depth + line)
        if line.endswith("{"):
            depth += 1
    return "\n".join(out) + "\n"


# -- router NAT -----------------------------------------------------------------------


def render_nat(spec: dict[str, object]) -> str:
    """A router namespace's NAT: floating IPs (DNAT in, SNAT out) and SNAT of the rest.

    spec: {"gateway_dev", "gateway_address" or None, "snat": bool,
    "internal_cidrs": [...], "floating_ips": [{"floating", "fixed"}]}.
    """
    fips = sorted(
        ((_addr(f["floating"]), _addr(f["fixed"])) for f in spec.get("floating_ips", [])),  # type: ignore[attr-defined]
    )
    gw_dev = spec.get("gateway_dev")
    pre = ["chain prerouting {", "type nat hook prerouting priority dstnat; policy accept;"]
    out = ["chain output {", "type nat hook output priority -100; policy accept;"]
    post = ["chain postrouting {", "type nat hook postrouting priority srcnat; policy accept;"]
    for floating, fixed in fips:
        pre.append(f"ip daddr {floating} dnat to {fixed}")
        out.append(f"ip daddr {floating} dnat to {fixed}")
    if gw_dev:
        dev = _ifname(gw_dev)
        for floating, fixed in fips:
            post.append(f'oifname "{dev}" ip saddr {fixed} snat to {floating}')
        cidrs = sorted({_net(c) for c in spec.get("internal_cidrs", [])})  # type: ignore[attr-defined]
        if spec.get("snat") and spec.get("gateway_address") and cidrs:
            gw = _addr(spec["gateway_address"])
            post.append(f'oifname "{dev}" ip saddr {_elements(cidrs)} snat to {gw}')
    lines = [
        f"table ip {TABLE}",
        f"delete table ip {TABLE}",
        f"table ip {TABLE} {{",
        *pre,
        "}",
        *out,
        "}",
        *post,
        "}",
        "}",
    ]
    return _indent(lines)


# -- applying -------------------------------------------------------------------------


def _nft(argv_prefix: list[str], args: list[str], text: str | None, what: str) -> str:
    try:
        proc = subprocess.run(
            [*argv_prefix, "nft", *args],
            input=text,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except FileNotFoundError:
        raise BackendError(f"cannot {what}: nft is not installed", "run `make run`") from None
    if proc.returncode != 0:
        err = " ".join((proc.stderr or proc.stdout).split())[:400]
        raise BackendError(f"cannot {what}: {err}")
    return proc.stdout


def _in_netns(netns: str | None) -> list[str]:
    return ["ip", "netns", "exec", _ifname(netns)] if netns else []


def apply_filter(spec: dict[str, object]) -> None:
    """Load the security group ruleset in one transaction, and make the bridges of the
    filtered ports hand IPv4 to conntrack (br_netfilter, per bridge). With no port to
    filter there is no ruleset: nothing goes into the kernel, and tables left from the
    last port are deleted (an empty lab loads nothing)."""
    if not spec.get("ports"):
        if tables():
            remove_filter()
        return
    bridges = sorted({str(b) for b in spec.get("bridges", [])})  # type: ignore[attr-defined]
    text = render_filter({**spec, "zones": zones_for(bridges)})
    for bridge in bridges:
        _bridge_nf_call(_ifname(bridge))
    _nft([], ["-f", "-"], text, "apply the security group rules")


def _bridge_nf_call(bridge: str) -> None:
    proc = subprocess.run(
        ["ip", "link", "set", "dev", bridge, "type", "bridge", "nf_call_iptables", "1"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if proc.returncode != 0 and "Cannot find device" not in proc.stderr:
        raise BackendError(f"cannot turn on br_netfilter on {bridge}: {proc.stderr.strip()}")


def apply_nat(netns: str, spec: dict[str, object]) -> None:
    _nft(_in_netns(netns), ["-f", "-"], render_nat(spec), f"apply NAT in {netns}")


def tables(netns: str | None = None) -> list[str]:
    """labcloud's tables as "family name" (e.g. "bridge labcloud")."""
    out = _nft(_in_netns(netns), ["-j", "list", "tables"], None, "list nft tables")
    found = []
    for item in json.loads(out or "{}").get("nftables", []):
        table = item.get("table")
        if table and table.get("name") == TABLE:
            found.append(f"{table['family']} {TABLE}")
    return sorted(found)


def remove_filter() -> None:
    text = "".join(
        f"table {family} {TABLE}\ndelete table {family} {TABLE}\n" for family in ("inet", "bridge")
    )
    _nft([], ["-f", "-"], text, "remove the security group rules")


def list_ruleset(netns: str | None = None) -> str:
    """labcloud's own tables as text (for `doctor` and debugging)."""
    parts = []
    for entry in tables(netns):
        family, name = entry.split()
        parts.append(_nft(_in_netns(netns), ["list", "table", family, name], None, "list"))
    return "".join(parts)
