"""IPAM: pools, gateways and overlaps as pure logic, and racing processes that never get
the same address twice (the store is real; the node's agent is a no-op stand-in)."""

from __future__ import annotations

import ipaddress
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from labcloud.config import LabConfig, SiteConfig
from labcloud.db.store import Store
from labcloud.errors import Conflict, UsageError
from labcloud.services.core import ServiceContext, netnames
from labcloud.services.identity import IdentityService
from labcloud.services.network import NetworkService, ipam

ip = ipaddress.ip_address


def test_default_pools_leave_out_the_gateway() -> None:
    net = ipam.parse_cidr("10.0.0.0/24")
    pools = ipam.default_pools(net, ip("10.0.0.1"))
    assert [p.as_dict() for p in pools] == [{"start": "10.0.0.2", "end": "10.0.0.254"}]
    mid = ipam.default_pools(net, ip("10.0.0.100"))
    assert [(str(p.start), str(p.end)) for p in mid] == [
        ("10.0.0.1", "10.0.0.99"),
        ("10.0.0.101", "10.0.0.254"),
    ]


def test_next_free_skips_used_addresses_and_reports_exhaustion() -> None:
    pools = ipam.check_pools(
        ipam.parse_cidr("10.0.0.0/24"),
        ip("10.0.0.1"),
        [{"start": "10.0.0.10", "end": "10.0.0.11"}, {"start": "10.0.0.20", "end": "10.0.0.20"}],
    )
    assert str(ipam.next_free(pools, set())) == "10.0.0.10"
    assert str(ipam.next_free(pools, {"10.0.0.10", "10.0.0.1"})) == "10.0.0.11"
    assert str(ipam.next_free(pools, {"10.0.0.10", "10.0.0.11"})) == "10.0.0.20"
    assert ipam.next_free(pools, {"10.0.0.10", "10.0.0.11", "10.0.0.20"}) is None


@pytest.mark.parametrize(
    ("cidr", "message"),
    [
        ("10.0.0.0", "no prefix length"),
        ("10.0.0.5/24", "host bits set"),
        ("10.0.0.0/31", "too small"),
        ("bogus/24", "invalid subnet range"),
        ("fd00::/64", "not an IPv4 range"),
    ],
)
def test_malformed_cidrs_are_usage_errors(cidr: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        ipam.parse_cidr(cidr, 4)


def test_gateways_pools_and_overlaps_are_checked() -> None:
    net = ipam.parse_cidr("10.0.0.0/24")
    with pytest.raises(UsageError, match="outside subnet range"):
        ipam.check_gateway(net, "10.0.1.1")
    with pytest.raises(UsageError, match="outside subnet range"):
        ipam.check_gateway(net, "10.0.0.255")  # the broadcast address
    with pytest.raises(UsageError, match="contains the gateway"):
        ipam.check_pools(net, ip("10.0.0.1"), [{"start": "10.0.0.1", "end": "10.0.0.9"}])
    with pytest.raises(UsageError, match="overlap"):
        ipam.check_pools(
            net,
            None,
            [{"start": "10.0.0.2", "end": "10.0.0.9"}, {"start": "10.0.0.5", "end": "10.0.0.20"}],
        )
    with pytest.raises(Conflict, match="overlaps subnet a"):
        ipam.check_overlap(ipam.parse_cidr("10.0.0.128/25"), [("a", "10.0.0.0/24")])
    ipam.check_overlap(ipam.parse_cidr("10.0.1.0/24"), [("a", "10.0.0.0/24")])


def test_a_pool_of_the_other_ip_version_is_refused_in_one_line() -> None:
    net = ipam.parse_cidr("10.0.0.0/24")
    for start, end in [("2001:db8::1", "2001:db8::9"), ("10.0.0.5", "2001:db8::9")]:
        with pytest.raises(UsageError, match=r"outside subnet range 10\.0\.0\.0/24"):
            ipam.check_pools(net, None, [{"start": start, "end": end}])
    assert ip("2001:db8::1") not in ipam.Pool(ip("10.0.0.1"), ip("10.0.0.9"))


def test_interface_names_fit_ifnamsiz_and_carry_the_prefix() -> None:
    rid = "0123abcd-ffff-4fff-8fff-ffffffffffff"
    for make in (netnames.bridge, netnames.tap, netnames.dhcp_veth_ns, netnames.dhcp_netns):
        name = make(rid)
        assert len(name) <= 15 and name.startswith("lc") and netnames.is_ours(name)
    assert not netnames.is_ours("eth0")


class _NoNode:
    """The node's agent, doing nothing: this test is about the store."""

    def features(self) -> dict[str, bool]:
        return {"bridge": True, "vxlan": True, "vlan": False}

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return lambda *args, **kwargs: None


def _service(state_dir: str) -> NetworkService:
    config = LabConfig(site=SiteConfig(state_dir=Path(state_dir), host_agent="none"))

    def unused() -> object:
        raise AssertionError("not needed here")

    ctx = ServiceContext(
        config,
        Store(Path(state_dir)),
        "admin",
        unused,  # type: ignore[arg-type]
        unused,  # type: ignore[arg-type]
        unused,  # type: ignore[arg-type]
        unused,  # type: ignore[arg-type]
        network_agent_factory=_NoNode,  # type: ignore[arg-type]
    )
    return NetworkService(ctx)


def _grab(args: tuple[str, int]) -> list[str]:
    state_dir, count = args
    service = _service(state_dir)
    got = []
    for _ in range(count):
        try:
            port = service.create_port("race-net")
        except Conflict:
            got.append("exhausted")
            continue
        got += [f["ip_address"] for f in service.fixed_ips(port.id)]
    return got


def test_racing_processes_never_get_the_same_address(tmp_path: Path) -> None:
    service = _service(str(tmp_path))
    IdentityService(service.ctx).seed(service.ctx.config.projects)
    service.create_network("race-net")
    # 20 pool addresses; the DHCP port takes one, 4 processes ask for 32 between them.
    service.create_subnet(
        "race-sub",
        "race-net",
        "10.9.0.0/24",
        allocation_pools=[{"start": "10.9.0.10", "end": "10.9.0.29"}],
    )
    with ProcessPoolExecutor(4) as pool:
        results = [a for chunk in pool.map(_grab, [(str(tmp_path), 8)] * 4) for a in chunk]
    addresses = [a for a in results if a != "exhausted"]
    assert len(addresses) == len(set(addresses)) == 19
    assert results.count("exhausted") == 13
    assert all(ip("10.9.0.10") <= ip(a) <= ip("10.9.0.29") for a in addresses)
