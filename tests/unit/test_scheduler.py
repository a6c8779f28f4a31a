"""The filter scheduler: which node a server lands on, and the reason it gives."""

from __future__ import annotations

import pytest

from labcloud.errors import Conflict
from labcloud.services.nodes import Candidate, Demand, Ratios, schedule

NANO = Demand(vcpus=1, ram_mb=128, disk_gb=1)


def node(name: str, ram_used: int = 0, **kw: object) -> Candidate:
    base: dict[str, object] = {
        "enabled": True,
        "up": True,
        "roles": ("compute",),
        "zone": "nova",
        "vcpus": 2,
        "ram_mb": 1024,
        "disk_gb": 10,
        "ram_used_mb": ram_used,
    }
    return Candidate(name, **{**base, **kw})  # type: ignore[arg-type]


def test_spread_picks_the_node_with_most_free_ram_and_says_why() -> None:
    chosen, reason = schedule([node("a", 512), node("b", 128)], NANO, "spread", Ratios())
    assert chosen == "b"
    assert reason.startswith("spread: most free RAM of 2 fitting (896 MiB")


def test_pack_fills_the_fullest_node_that_still_fits() -> None:
    nodes = [node("a", 512), node("b", 128), node("c", 1000)]  # c has 24 MiB left: no fit
    chosen, reason = schedule(nodes, NANO, "pack", Ratios())
    assert chosen == "a"
    assert "filtered out c: 24 MiB RAM free" in reason


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (node("x", enabled=False), "x: disabled"),
        (node("x", up=False), "x: down"),
        (node("x", roles=("network",)), "x: no compute role"),
        (node("x", vcpus_used=8), "x: 0 vCPU free"),  # 2 x 4.0 allocation ratio = 8
        (node("x", disk_gb=0), "x: 0 GiB disk free"),
        (node("x", why_not="does not see the state_dir"), "x: does not see the state_dir"),
    ],
)
def test_each_filter_keeps_a_node_out_and_names_the_reason(bad: Candidate, why: str) -> None:
    chosen, reason = schedule([bad, node("ok")], NANO, "spread", Ratios())
    assert chosen == "ok"
    assert why in reason
    with pytest.raises(Conflict, match=f"no valid node.*{why}"):
        schedule([bad], NANO, "spread", Ratios())


def test_the_availability_zone_filter() -> None:
    nodes = [node("a", zone="east"), node("b", zone="west")]
    east = Demand(1, 128, 1, zone="east")
    assert schedule(nodes, east, "spread", Ratios())[0] == "a"


def test_an_admin_pin_wins_over_the_weigher_but_not_over_a_dead_node() -> None:
    nodes = [node("busy", 900), node("idle")]
    pinned = Demand(1, 64, 1, pinned="busy")
    chosen, reason = schedule(nodes, pinned, "spread", Ratios())
    assert (chosen, reason.split(" (")[0]) == ("busy", "pinned with --node")
    with pytest.raises(Conflict, match="dead: down"):
        schedule([node("dead", up=False)], Demand(1, 64, 1, pinned="dead"), "spread", Ratios())
    with pytest.raises(Conflict, match="no node named 'nope'"):
        schedule(nodes, Demand(1, 64, 1, pinned="nope"), "spread", Ratios())


def test_allocation_ratios_overcommit_cpu_and_ram() -> None:
    full = node("a", ram_used=1024, vcpus_used=2)
    with pytest.raises(Conflict):
        schedule([full], NANO, "spread", Ratios(cpu=1.0, ram=1.0))
    assert schedule([full], NANO, "spread", Ratios(cpu=2.0, ram=1.5))[0] == "a"
