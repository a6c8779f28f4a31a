"""A user's story of a lab declared in one file: apply it (two networks, a router, a
floating IP, three servers, one of them counted, and a volume), see the servers boot and
ping across the router and the floating IP answer from outside; apply again and nothing
happens; edit the file and see exactly the edits planned and made in place; kill an apply
midway and let the next one converge; destroy it and find nothing left."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labcloud.errors import EXIT_CODES
from tests.harness import Node
from tests.harness.node import LABCLOUD_BIN
from tests.integration.l3_helpers import NetnsHost, http_get, js, netns_host

OUTSIDE_IP = "198.51.100.1"  # the external subnet's gateway: the "outside" namespace
FIP = "198.51.100.60"
DB_IP = "10.62.0.10"

LAB = """\
[stack]
name = "lab1"
description = "two networks, a router and three servers"

[parameters]
db_flavor = "st-nano"
app_count = 2
web_rules = [{ protocol = "icmp" }, { protocol = "tcp", port = 80 }]

[flavor.st-nano]
vcpus = 1
ram = 128
disk = 1

[flavor.st-more]
vcpus = 1
ram = 192
disk = 1

[network.st-net1]
[subnet.st-net1-sub]
network = "st-net1"
cidr = "10.61.0.0/24"

[network.st-net2]
[subnet.st-net2-sub]
network = "st-net2"
cidr = "10.62.0.0/24"

[network.st-public]
external = true
provider_network_type = "flat"

[subnet.st-public-sub]
network = "st-public"
cidr = "198.51.100.0/24"
gateway = "198.51.100.1"
dhcp = false

[router.st-r]
external_gateway = "st-public"
interfaces = ["st-net1-sub", "st-net2-sub"]

[security_group.st-web]
rules = "${web_rules}"

[volume.st-data]
size = 1

[server.app]
image = "tiny"
flavor = "st-nano"
count = "${app_count}"
networks = ["st-net1"]
security_groups = ["st-web"]
user_data = '''
#!/bin/sh
(
  until ping -c 1 -W 2 10.62.0.10 >/dev/null 2>&1; do sleep 1; done
  echo "probe: db answers ping" >/dev/console
) </dev/null >/dev/null 2>&1 &
'''

[server.db]
image = "tiny"
flavor = "${db_flavor}"
networks = [{ network = "st-net2", fixed_ip = "10.62.0.10" }]
security_groups = ["st-web"]
volumes = ["st-data"]

[floating_ip.st-fip]
network = "st-public"
server = "db"
address = "198.51.100.60"

[outputs]
db_address = "${server.db.address}"
db_floating_ip = "${floating_ip.st-fip.address}"
"""
EDITED = {"db_flavor": "st-more", "app_count": "1"}
RULES_PLUS_ECHO = (
    '[{ protocol = "icmp" }, { protocol = "tcp", port = 80 }, { protocol = "tcp", port = 7 }]'
)


def write_lab(lab: Node, **params: str) -> Path:
    """The stack file with parameter defaults replaced (as a user edits the file)."""
    text = LAB
    if "db_flavor" in params:
        text = text.replace('db_flavor = "st-nano"', f'db_flavor = "{params["db_flavor"]}"')
    if "app_count" in params:
        text = text.replace("app_count = 2", f"app_count = {params['app_count']}")
    if "rules" in params:
        text = text.replace(
            'web_rules = [{ protocol = "icmp" }, { protocol = "tcp", port = 80 }]',
            f"web_rules = {params['rules']}",
        )
    path = lab.workdir / "lab1.toml"
    path.write_text(text)
    return path


def server_names(lab: Node) -> list[str]:
    return sorted(
        s["Name"] for s in json.loads(lab.labcloud("server", "list", "-f", "json").stdout)
    )


def plan_lines(lab: Node, path: Path) -> list[str]:
    out = lab.labcloud("stack", "plan", str(path)).stdout
    return [line.strip() for line in out.splitlines() if line.startswith("  ")]


@pytest.fixture(scope="module")
def applied(lab: Node) -> Iterator[tuple[Node, NetnsHost]]:
    path = write_lab(lab)
    outside: NetnsHost | None = None
    try:
        out = lab.labcloud("stack", "apply", str(path), timeout=900).stdout
        assert "Apply complete: 15 created, 0 updated in place, 0 replaced, 0 deleted." in out
        bridge = str(js(lab, "network", "show", "st-public")["bridge"])
        outside = netns_host(lab, "st-outside", "stout0", bridge, f"{OUTSIDE_IP}/24")
        yield lab, outside
    finally:
        if outside is not None:
            outside.remove()
        lab.labcloud("stack", "destroy", "lab1", check=False, timeout=600)


def test_apply_boots_the_servers_and_they_ping_across_the_router(
    applied: tuple[Node, NetnsHost],
) -> None:
    lab, _ = applied
    assert server_names(lab) == ["app-1", "app-2", "db"]
    for app in ("app-1", "app-2"):
        line = lab.labcloud(
            "console", "log", app, "--wait-for", "probe: db answers ping", "--timeout", "240"
        ).stdout
        assert "probe: db answers ping" in line
    # db booted with its volume attached, and outputs name its addresses.
    assert (
        "disk vdb size 1073741824"
        in lab.labcloud(
            "console", "log", "db", "--wait-for", "disk vdb size", "--timeout", "120"
        ).stdout
    )
    shown = js(lab, "stack", "show", "lab1")
    assert shown["status"] == "COMPLETE"
    assert shown["outputs"] == {"db_address": DB_IP, "db_floating_ip": FIP}


def test_the_floating_ip_answers_from_outside(applied: tuple[Node, NetnsHost]) -> None:
    lab, outside = applied
    lab.labcloud("console", "log", "db", "--wait-for", "labcloud-tiny: ready", "--timeout", "240")
    body = None
    for _ in range(30):  # the guest's httpd starts with "ready"; ARP may take a moment
        body = http_get(lab, outside.netns, FIP, "/hostname")
        if body:
            break
        time.sleep(1)
    assert body == "db"


def test_a_second_apply_is_a_no_op(applied: tuple[Node, NetnsHost]) -> None:
    lab, _ = applied
    path = write_lab(lab)
    before = {
        s["Name"]: s["ID"] for s in json.loads(lab.labcloud("server", "list", "-f", "json").stdout)
    }
    assert plan_lines(lab, path) == ["no changes: the lab matches the file"]
    out = lab.labcloud("stack", "apply", str(path)).stdout
    assert "Apply complete: 0 created, 0 updated in place, 0 replaced, 0 deleted." in out
    after = {
        s["Name"]: s["ID"] for s in json.loads(lab.labcloud("server", "list", "-f", "json").stdout)
    }
    assert after == before


def test_a_volume_detached_by_hand_is_planned_and_attached_again(
    applied: tuple[Node, NetnsHost],
) -> None:
    lab, _ = applied
    path = write_lab(lab)
    lab.labcloud("console", "log", "db", "--wait-for", "labcloud-tiny: ready", "--timeout", "240")
    lab.labcloud("server", "remove", "volume", "db", "st-data")
    # The guest polls its disks: let it see the removal, or a quick re-attach would look
    # to it as if nothing had changed.
    lab.labcloud("console", "log", "db", "--wait-for", "disk-removed vdb", "--timeout", "120")
    assert plan_lines(lab, path) == ["~ server db", "+ volumes st-data"]
    out = lab.labcloud("stack", "apply", str(path)).stdout
    assert "Apply complete: 0 created, 1 updated in place, 0 replaced, 0 deleted." in out
    assert js(lab, "volume", "show", "st-data")["status"] == "in-use"
    console = lab.labcloud(
        "console", "log", "db", "--wait-for", "disk-added vdb", "--timeout", "120"
    ).stdout
    assert "disk-added vdb" in console
    assert plan_lines(lab, path) == ["no changes: the lab matches the file"]


def test_a_new_flavor_a_new_rule_and_a_removed_server_are_done_in_place(
    applied: tuple[Node, NetnsHost],
) -> None:
    lab, _ = applied
    db_id = js(lab, "server", "show", "db")["id"]
    path = write_lab(lab, rules=RULES_PLUS_ECHO, **EDITED)
    assert plan_lines(lab, path) == [
        "~ security_group st-web",
        "+ rule ingress tcp port 7 from 0.0.0.0/0",
        "~ server db",
        "flavor: 'st-nano' -> 'st-more' (resize)",
        "- server app-2",
    ]
    out = lab.labcloud("stack", "apply", str(path), timeout=600).stdout
    assert "Apply complete: 0 created, 2 updated in place, 0 replaced, 1 deleted." in out
    db = js(lab, "server", "show", "db")
    assert (db["id"], db["flavor"], db["ram"], db["status"]) == (db_id, "st-more", 192, "ACTIVE")
    assert server_names(lab) == ["app-1", "db"]
    rules = json.loads(
        lab.labcloud("security", "group", "rule", "list", "st-web", "-f", "json").stdout
    )
    assert any(str(r.get("Port Range")) == "7:7" for r in rules), rules
    # The resized db boots again, keeps its floating IP and answers on the new port too.
    lab.labcloud("console", "log", "db", "--wait-for", "labcloud-tiny: ready", "--timeout", "240")
    assert plan_lines(lab, path) == ["no changes: the lab matches the file"]


def test_an_apply_killed_midway_is_finished_by_the_next(applied: tuple[Node, NetnsHost]) -> None:
    lab, _ = applied
    path = write_lab(lab, rules=RULES_PLUS_ECHO, db_flavor="st-more", app_count="3")
    # The apply process SIGKILLs itself the moment one of its server creates reaches the
    # define step (the journal's fault injection): a crash in the middle of the apply,
    # whatever the timing of the other resources being made beside it.
    proc = lab.popen(
        [str(LABCLOUD_BIN), "stack", "apply", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={
            "LABCLOUD_NO_DAEMON": "1",  # the apply runs in this process, not the fork server
            "LABCLOUD_FAULT_KILL_AT": "server.create:define",
        },
    )
    _, err = proc.communicate(timeout=600)
    seen = err.splitlines()
    assert any("+ server app-3: creating" in line for line in seen), seen
    assert proc.returncode != 0, seen
    out = lab.labcloud("stack", "apply", str(path), timeout=900).stdout
    assert "Apply complete:" in out
    assert server_names(lab) == ["app-1", "app-2", "app-3", "db"]
    for name in ("app-2", "app-3"):
        assert js(lab, "server", "show", name)["status"] == "ACTIVE"
    assert plan_lines(lab, path) == ["no changes: the lab matches the file"]
    assert js(lab, "stack", "show", "lab1")["status"] == "COMPLETE"


def test_a_stack_never_takes_what_it_does_not_own(applied: tuple[Node, NetnsHost]) -> None:
    lab, _ = applied
    other = lab.workdir / "other.toml"
    other.write_text("[network.st-net1]\n[volume.st-kept]\nsize = 1\n")
    proc = lab.labcloud("stack", "plan", str(other), check=False)
    assert proc.returncode == EXIT_CODES["config"]
    assert (
        "other.toml:1: network.st-net1: a network named 'st-net1' already exists and is not "
        "this stack's" in proc.stderr
    )
    # A volume-only stack, destroyed with --keep-volumes: the volume stays, now nobody's.
    other.write_text("[volume.st-kept]\nsize = 1\n")
    lab.labcloud("stack", "apply", str(other))
    lab.labcloud("stack", "destroy", "other", "--keep-volumes")
    assert js(lab, "volume", "show", "st-kept")["status"] == "available"
    lab.labcloud("volume", "delete", "st-kept")


def test_destroy_leaves_nothing_but_what_was_made_by_hand(
    applied: tuple[Node, NetnsHost],
) -> None:
    lab, _ = applied
    lab.labcloud("network", "create", "st-hand")
    try:
        out = lab.labcloud("stack", "destroy", "lab1", timeout=600).stdout
        assert out.startswith("stack lab1 destroyed:")
        assert server_names(lab) == []
        assert lab.virsh("list", "--all", "--name").stdout.strip() == ""
        nets = [n["Name"] for n in json.loads(lab.labcloud("network", "list", "-f", "json").stdout)]
        assert nets == ["st-hand"]
        for what in (("router",), ("volume",), ("floating", "ip")):
            rows = json.loads(lab.labcloud(*what, "list", "-f", "json").stdout)
            assert rows == [], what
        groups = json.loads(lab.labcloud("security", "group", "list", "-f", "json").stdout)
        assert [g["Name"] for g in groups] == ["default"]
        flavors = [
            f["Name"] for f in json.loads(lab.labcloud("flavor", "list", "-f", "json").stdout)
        ]
        assert not [f for f in flavors if f.startswith("st-")]
        assert json.loads(lab.labcloud("stack", "list", "-f", "json").stdout) == []
    finally:
        lab.labcloud("network", "delete", "st-hand", check=False)


def test_a_hand_made_lab_is_exported_and_adopted_by_a_stack(lab: Node) -> None:
    lab.labcloud("network", "create", "hm-net")
    lab.labcloud(
        "subnet", "create", "hm-sub", "--network", "hm-net", "--subnet-range", "10.63.0.0/24"
    )
    lab.labcloud("security", "group", "create", "hm-sg")
    lab.labcloud(
        "security", "group", "rule", "create", "hm-sg", "--protocol", "tcp", "--dst-port", "22"
    )
    lab.labcloud("volume", "create", "hm-vol", "--size", "1")
    try:
        exported = lab.labcloud("stack", "export").stdout
        assert '[subnet.hm-sub]\nnetwork = "hm-net"\ncidr = "10.63.0.0/24"' in exported
        assert 'rules = [{ direction = "ingress", protocol = "tcp", port = "22" }]' in exported
        path = lab.workdir / "handmade.toml"
        path.write_text(exported)
        refused = lab.labcloud("stack", "plan", str(path), check=False)
        assert refused.returncode == EXIT_CODES["config"]
        assert "already exists and is not this stack's" in refused.stderr
        out = lab.labcloud("stack", "apply", str(path), "--adopt").stdout
        assert "= network hm-net" in out and "= volume hm-vol" in out
        assert "Apply complete: 4 adopted, 0 created, 0 updated in place" in out
        assert plan_lines(lab, path) == ["no changes: the lab matches the file"]
        lab.labcloud("stack", "destroy", "handmade")
        assert [
            n["Name"] for n in json.loads(lab.labcloud("network", "list", "-f", "json").stdout)
        ] == []
        assert json.loads(lab.labcloud("volume", "list", "-f", "json").stdout) == []
    finally:
        lab.labcloud("volume", "delete", "hm-vol", check=False)
        lab.labcloud("security", "group", "delete", "hm-sg", check=False)
        lab.labcloud("network", "delete", "hm-net", check=False)
