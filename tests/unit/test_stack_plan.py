"""Plans as a user reads them: what a first apply makes, that a second has nothing to do,
and that each kind of edit is shown as the smallest change that does it."""

from __future__ import annotations

from typing import Any

import pytest

from labcloud.errors import ConfigError
from labcloud.services.stacks.plan import Owned, Plan, make_plan
from labcloud.services.stacks.refs import graph
from labcloud.services.stacks.schema import parse

LAB = """\
[network.lan]
[subnet.lan-sub]
network = "lan"
cidr = "10.40.0.0/24"

[router.r]
interfaces = ["lan-sub"]

[security_group.web]
rules = [{ protocol = "tcp", port = 80 }]

[volume.data]
size = 1

[server.web]
image = "tiny"
flavor = "m1.nano"
networks = ["lan"]
security_groups = ["web"]
count = 2

[server.db]
image = "tiny"
flavor = "m1.nano"
networks = ["lan"]
volumes = ["data"]
"""


def plan_of(
    text: str,
    owned: dict[Any, Owned] | None = None,
    taken: set[Any] | None = None,
    adopt: Any = None,
) -> Plan:
    stack = parse(text, "lab.toml")
    deps = graph(stack, lambda kind, name: name in ("tiny", "m1.nano", "m1.tiny"))
    return make_plan(
        stack,
        deps,
        owned or {},
        lambda kind, rid: True,
        lambda kind, name: (kind, name) in (taken or set()),
        adopt,
    )


def applied(text: str) -> dict[Any, Owned]:
    """The records a complete apply of `text` leaves."""
    stack = parse(text, "lab.toml")
    return {k: Owned(f"id-{k[1]}", "COMPLETE", d.props) for k, d in stack.decls.items()}


def test_a_first_plan_creates_everything_in_dependency_order() -> None:
    plan = plan_of(LAB)
    lines = [c.line() for c in plan.actionable]
    assert (
        lines.index("+ network lan") < lines.index("+ subnet lan-sub") < lines.index("+ router r")
    )
    assert lines.index("+ volume data") < lines.index("+ server db")
    assert "+ server web-1" in lines and "+ server web-2" in lines
    assert plan.counts() == {"create": 8, "update": 0, "replace": 0, "delete": 0, "adopt": 0}


def test_a_second_plan_has_nothing_to_do() -> None:
    plan = plan_of(LAB, applied(LAB))
    assert plan.actionable == []
    assert "no changes" in plan.render()


def test_flavor_rule_and_removed_server_are_exactly_three_changes() -> None:
    edited = (
        LAB.replace(
            'flavor = "m1.nano"\nnetworks = ["lan"]\nvolumes',
            'flavor = "m1.tiny"\nnetworks = ["lan"]\nvolumes',
        )
        .replace("port = 80 }]", 'port = 80 }, { protocol = "icmp" }]')
        .replace("count = 2", "count = 1")
    )
    plan = plan_of(edited, applied(LAB))
    shown = {(c.action, c.kind, c.name): c.notes for c in plan.actionable}
    assert shown.pop(("update", "server", "db")) == ["flavor: 'm1.nano' -> 'm1.tiny' (resize)"]
    assert shown.pop(("update", "security_group", "web")) == ["+ rule ingress icmp from 0.0.0.0/0"]
    # count 2 -> 1 removes the last one; web-1 stays web-1.
    assert set(shown) == {("delete", "server", "web-2")}


def test_removing_one_counted_server_is_one_delete() -> None:
    three = LAB.replace("count = 2", "count = 3")
    plan = plan_of(LAB, applied(three))
    assert [c.line() for c in plan.actionable] == ["- server web-3"]


def test_attaching_a_volume_is_an_update_and_a_new_image_a_replace() -> None:
    plan = plan_of(LAB.replace('volumes = ["data"]', "volumes = []"), applied(LAB))
    assert [(c.line(), c.notes) for c in plan.actionable] == [("~ server db", ["- volumes data"])]
    plan = plan_of(
        LAB.replace(
            'image = "tiny"\nflavor = "m1.nano"\nnetworks = ["lan"]\nvol',
            'image = "m1.tiny"\nflavor = "m1.nano"\nnetworks = ["lan"]\nvol',
        ),
        applied(LAB),
    )
    assert plan.actionable[0].line() == "-/+ server db"


def test_a_new_cidr_replaces_the_subnet_and_what_uses_it() -> None:
    plan = plan_of(LAB.replace("10.40.0.0/24", "10.41.0.0/24"), applied(LAB))
    # The servers' addresses are on the subnet: they go with it, as does the router's leg.
    assert sorted(c.line() for c in plan.actionable) == [
        "-/+ router r",
        "-/+ server db",
        "-/+ server web-1",
        "-/+ server web-2",
        "-/+ subnet lan-sub",
    ]
    assert plan.actionable[0].notes == [
        "cidr: '10.40.0.0/24' -> '10.41.0.0/24' (forces replacement)"
    ]


def test_a_volume_grows_in_place_but_never_shrinks() -> None:
    big = LAB.replace("size = 1", "size = 3")
    assert plan_of(big, applied(LAB)).actionable[0].notes == ["size: 1 -> 3 (extend)"]
    assert plan_of(LAB, applied(big)).actionable[0].line() == "-/+ volume data"


def test_a_resource_lost_outside_the_stack_is_made_again() -> None:
    stack = parse(LAB, "lab.toml")
    deps = graph(stack, lambda kind, name: True)
    plan = make_plan(
        stack, deps, applied(LAB), lambda kind, rid: rid != "id-data", lambda k, n: False
    )
    assert [c.line() for c in plan.actionable] == ["+ volume data"]


def test_a_name_taken_by_a_hand_made_resource_is_refused_unless_adopted() -> None:
    with pytest.raises(
        ConfigError,
        match=r"lab.toml:1: network.lan: a network named 'lan' "
        r"already exists and is not this stack's",
    ):
        plan_of(LAB, taken={("network", "lan")})
    current = {
        "external": False,
        "shared": False,
        "provider_network_type": "vxlan",
        "provider_segment": 1001,
        "mtu": 1500,
    }
    plan = plan_of(LAB, taken={("network", "lan")}, adopt=lambda kind, name: current)
    first = plan.actionable[0]
    assert (first.line(), first.notes) == ("= network lan", [])


def test_an_interrupted_create_is_created_again() -> None:
    owned = applied(LAB)
    owned[("server", "db")] = Owned(None, "CREATING", {})
    plan = plan_of(LAB, owned)
    assert [c.line() for c in plan.actionable] == ["+ server db"]


def test_a_change_made_by_hand_shows_and_is_put_back() -> None:
    stack = parse(LAB, "lab.toml")
    deps = graph(stack, lambda kind, name: True)
    now = {
        ("server", "id-db"): {"flavor": "m1.tiny", "volumes": [], "keypair": "ignored"},
        ("router", "id-r"): {"external_gateway": "", "interfaces": ["lan-sub"]},
    }
    plan = make_plan(
        stack,
        deps,
        applied(LAB),
        lambda k, r: True,
        lambda k, n: False,
        current=lambda kind, rid: now.get((kind, rid)),
    )
    assert [(c.line(), c.notes) for c in plan.actionable] == [
        ("~ server db", ["flavor: 'm1.tiny' -> 'm1.nano' (resize)", "+ volumes data"])
    ]
