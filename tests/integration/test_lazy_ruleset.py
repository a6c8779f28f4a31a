"""An empty lab loads nothing into the kernel: the security group tables go in with the
first port that is filtered and leave with the last one, and `doctor` asks for none
before then."""

from __future__ import annotations

import json

from tests.harness import Node
from tests.integration.l3_helpers import make_net


def labcloud_tables(node: Node) -> list[str]:
    out = node.run(["nft", "-j", "list", "tables"]).stdout
    return sorted(
        f"{t['table']['family']} {t['table']['name']}"
        for t in json.loads(out)["nftables"]
        if "table" in t and t["table"]["name"] == "labcloud"
    )


def nft_findings(node: Node) -> list[dict[str, str]]:
    found = json.loads(node.labcloud("doctor", "-f", "json").stdout)
    return [f for f in found if f["Kind"] == "missing-nft-table"]


def test_the_ruleset_arrives_with_the_first_filtered_port_and_leaves_with_the_last(
    fresh_node: Node,
) -> None:
    lab = fresh_node
    lab.labcloud("init")
    assert labcloud_tables(lab) == [], "init loaded nftables into an empty lab"
    assert nft_findings(lab) == [], "doctor wants tables an empty lab does not need"

    # Groups, rules and a network with its subnet are only state: still no ruleset.
    lab.labcloud("security", "group", "create", "web")
    lab.labcloud("security", "group", "rule", "create", "web", "--protocol", "tcp")
    make_net(lab, "lazy-net", "10.43.0.0/24")
    assert labcloud_tables(lab) == []

    lab.labcloud("image", "create", "tiny", "--builtin")
    lab.labcloud(
        "server", "create", "lazy1", "--image", "tiny", "--flavor", "m1.nano",
        "--network", "lazy-net", "--wait",
    )  # fmt: skip
    assert labcloud_tables(lab) == ["bridge labcloud", "inet labcloud"]
    assert nft_findings(lab) == []

    lab.labcloud("server", "delete", "lazy1", "--wait")
    assert labcloud_tables(lab) == [], "the last filtered port left its tables behind"
