"""IP address management: pure logic on subnets, pools and the addresses in use.

The network service calls this inside its write transaction; the unique constraint on
(subnet, address) is the last word when processes race.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from labcloud.errors import Conflict, UsageError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _n(addr: IPAddress) -> int:
    """An address as a number, to compare: IPv4 and IPv6 addresses do not compare (a
    TypeError), so callers check the version first."""
    return int(addr)


@dataclass(frozen=True)
class Pool:
    start: IPAddress
    end: IPAddress

    def __contains__(self, addr: IPAddress) -> bool:
        return addr.version == self.start.version and _n(self.start) <= _n(addr) <= _n(self.end)

    @property
    def size(self) -> int:
        return int(self.end) - int(self.start) + 1

    def as_dict(self) -> dict[str, str]:
        return {"start": str(self.start), "end": str(self.end)}


def parse_cidr(text: str, ip_version: int | None = None) -> IPNetwork:
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise UsageError(
            f"invalid subnet range {text!r}", "give a CIDR such as 10.0.0.0/24"
        ) from None
    if "/" not in text:
        raise UsageError(f"subnet range {text!r} has no prefix length", "e.g. 10.0.0.0/24")
    if net.network_address != ipaddress.ip_address(text.split("/")[0]):
        raise UsageError(f"subnet range {text!r} has host bits set", f"did you mean {net}?")
    if ip_version is not None and net.version != ip_version:
        raise UsageError(f"subnet range {text} is not an IPv{ip_version} range")
    if (net.version == 4 and net.prefixlen > 30) or (net.version == 6 and net.prefixlen > 126):
        raise UsageError(f"subnet range {text} is too small", "it needs room for hosts")
    return net


def parse_address(text: str, what: str = "address") -> IPAddress:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise UsageError(f"invalid {what} {text!r}", "give an IP address") from None


def host_range(net: IPNetwork) -> tuple[IPAddress, IPAddress]:
    """The first and last usable addresses (v4: no network or broadcast address)."""
    first = net.network_address + 1
    last = net.broadcast_address - 1 if net.version == 4 else net.broadcast_address
    return first, last


def check_gateway(net: IPNetwork, gateway: str | None) -> IPAddress | None:
    if gateway is None:
        return None
    addr = parse_address(gateway, "gateway")
    first, last = host_range(net)
    if addr.version != net.version or not _n(first) <= _n(addr) <= _n(last):
        raise UsageError(
            f"gateway {gateway} is outside subnet range {net}",
            f"pick an address from {first} to {last}, or --gateway none",
        )
    return addr


def default_pools(net: IPNetwork, gateway: IPAddress | None) -> list[Pool]:
    """The whole host range, minus the gateway."""
    first, last = host_range(net)
    if (
        gateway is None
        or gateway.version != net.version
        or not _n(first) <= _n(gateway) <= _n(last)
    ):
        return [Pool(first, last)]
    pools = []
    if _n(gateway) > _n(first):
        pools.append(Pool(first, gateway - 1))
    if _n(gateway) < _n(last):
        pools.append(Pool(gateway + 1, last))
    return pools


def check_pools(
    net: IPNetwork, gateway: IPAddress | None, raw: Iterable[dict[str, str]]
) -> list[Pool]:
    first, last = host_range(net)
    pools: list[Pool] = []
    for item in raw:
        if set(item) != {"start", "end"}:
            raise UsageError(
                "an allocation pool needs start= and end=", "e.g. start=10.0.0.10,end=10.0.0.99"
            )
        start = parse_address(item["start"], "pool start")
        end = parse_address(item["end"], "pool end")
        if start.version != net.version or end.version != net.version:
            raise UsageError(
                f"allocation pool {start}-{end} is outside subnet range {net}",
                f"use IPv{net.version} addresses from {first} to {last}",
            )
        if _n(start) > _n(end):
            raise UsageError(f"allocation pool {start}-{end} ends before it starts")
        if not (_n(first) <= _n(start) and _n(end) <= _n(last)):
            raise UsageError(
                f"allocation pool {start}-{end} is outside subnet range {net}",
                f"use addresses from {first} to {last}",
            )
        if gateway is not None and gateway in Pool(start, end):
            raise UsageError(
                f"allocation pool {start}-{end} contains the gateway {gateway}",
                "leave the gateway out of the pool",
            )
        for other in pools:
            if _n(start) <= _n(other.end) and _n(other.start) <= _n(end):
                raise UsageError(
                    f"allocation pools {other.start}-{other.end} and {start}-{end} overlap"
                )
        pools.append(Pool(start, end))
    return sorted(pools, key=lambda p: _n(p.start))


def pools_from_json(items: list[dict[str, str]]) -> list[Pool]:
    return [Pool(ipaddress.ip_address(p["start"]), ipaddress.ip_address(p["end"])) for p in items]


def check_overlap(net: IPNetwork, others: Iterable[tuple[str, str]]) -> None:
    """`others`: (name, cidr) of the network's other subnets."""
    for name, cidr in others:
        other = ipaddress.ip_network(cidr)
        if other.version == net.version and net.overlaps(other):
            raise Conflict(
                f"subnet range {net} overlaps subnet {name} ({other}) on the same network",
                "pick a range that does not overlap",
            )


def next_free(pools: list[Pool], used: set[str]) -> IPAddress | None:
    """The lowest pool address not in use, or None when the pools are exhausted."""
    used_addrs = {ipaddress.ip_address(u) for u in used}
    in_pools = sum(1 for a in used_addrs if any(a in p for p in pools))
    if in_pools >= sum(p.size for p in pools):
        return None
    for pool in pools:
        taken = sorted(int(a) for a in used_addrs if a in pool)
        candidate = int(pool.start)
        for t in taken:
            if t > candidate:
                break
            if t == candidate:
                candidate += 1
        if candidate <= int(pool.end):
            return ipaddress.ip_address(candidate)
    return None


def check_fixed(net: IPNetwork, address: str) -> IPAddress:
    """An address a user asked for: in the subnet and a host address (pools do not bind it,
    as in Neutron)."""
    addr = parse_address(address, "fixed IP address")
    first, last = host_range(net)
    if addr.version != net.version or not _n(first) <= _n(addr) <= _n(last):
        raise UsageError(f"address {address} is not a host address of subnet {net}")
    return addr


# IPv6 address modes, in Neutron's words; the SLAAC ones derive each port's address from
# its MAC (EUI-64), as the guest's kernel will.
IPV6_MODES = ("slaac", "dhcpv6-stateful", "dhcpv6-stateless")
EUI64_MODES = ("slaac", "dhcpv6-stateless")


def check_ipv6_modes(net: IPNetwork, ra_mode: str | None, address_mode: str | None) -> None:
    for flag, mode in (("--ipv6-ra-mode", ra_mode), ("--ipv6-address-mode", address_mode)):
        if mode is not None and mode not in IPV6_MODES:
            raise UsageError(f"invalid {flag} {mode!r}", f"use one of {', '.join(IPV6_MODES)}")
    if ra_mode is None and address_mode is None:
        return
    if net.version != 6:
        raise UsageError("--ipv6-ra-mode and --ipv6-address-mode are for IPv6 subnets")
    if ra_mode and address_mode and ra_mode != address_mode:
        raise UsageError(
            f"--ipv6-ra-mode {ra_mode} and --ipv6-address-mode {address_mode} disagree",
            "give the same mode to both, or only one",
        )
    if (address_mode or ra_mode) in EUI64_MODES and net.prefixlen != 64:
        raise UsageError(f"SLAAC needs a /64 prefix, not /{net.prefixlen}")


def eui64(net: IPNetwork, mac: str) -> IPAddress:
    """The address SLAAC forms from the prefix and the MAC (RFC 4291 modified EUI-64)."""
    octets = bytearray(int(b, 16) for b in mac.split(":"))
    octets[0] ^= 0x02
    iid = bytes(octets[:3]) + b"\xff\xfe" + bytes(octets[3:])
    return net.network_address + int.from_bytes(iid, "big")
