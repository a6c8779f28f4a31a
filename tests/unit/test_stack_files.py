"""A stack file read like a user writes one: good files parse, bad ones are refused with
the file, the key path, the line and, for typos, a suggestion."""

from __future__ import annotations

import pytest

from labcloud.errors import ConfigError
from labcloud.services.stacks.refs import graph, topological
from labcloud.services.stacks.schema import parse

LAB = """\
[stack]
name = "demo"

[parameters]
flavor = "m1.nano"
web_count = 2
secret = { description = "the admin password" }

[network.lan]
[subnet.lan-sub]
network = "lan"
cidr = "10.40.0.0/24"

[security_group.web]
rules = [{ protocol = "tcp", port = 80 }, { protocol = "icmp" }]

[server.web]
image = "tiny"
flavor = "${flavor}"
count = "${web_count}"
networks = ["lan"]
security_groups = ["web"]

[outputs]
web1 = "${server.web-1.address}"
"""

EXISTING = {("image", "tiny"), ("flavor", "m1.nano"), ("flavor", "m1.tiny")}


def exists(kind: str, name: str) -> bool:
    return (kind, name) in EXISTING


def load(text: str, **params: str):  # type: ignore[no-untyped-def]
    return parse(text, "lab.toml", params=params)


def error_of(text: str, **params: str) -> str:
    with pytest.raises(ConfigError) as caught:
        stack = load(text, **params)
        graph(stack, exists)
    return caught.value.one_line()


def test_a_lab_parses_with_parameters_and_count_expanded() -> None:
    stack = load(LAB, secret="x")
    assert stack.name == "demo"
    assert ("server", "web-1") in stack.decls and ("server", "web-2") in stack.decls
    assert stack.decls[("server", "web-1")].props["flavor"] == "m1.nano"
    assert stack.decls[("server", "web-1")].props["networks"] == [
        {"network": "lan", "fixed_ip": ""}
    ]
    rules = stack.decls[("security_group", "web")].props["rules"]
    assert rules[0]["port"] == "80" and rules[1]["protocol"] == "icmp"


def test_a_parameter_given_on_the_command_line_keeps_its_type() -> None:
    stack = load(LAB, secret="x", web_count="3", flavor="m1.tiny")
    assert ("server", "web-3") in stack.decls
    assert stack.decls[("server", "web-3")].props["flavor"] == "m1.tiny"


def test_resources_are_ordered_after_what_they_reference() -> None:
    stack = load(LAB, secret="x")
    order = topological(graph(stack, exists))
    assert order.index(("network", "lan")) < order.index(("subnet", "lan-sub"))
    assert order.index(("security_group", "web")) < order.index(("server", "web-1"))
    # The image and flavor exist already in the lab: references, not dependencies.
    assert ("image", "tiny") not in order


def test_an_unknown_key_names_file_line_path_and_a_suggestion() -> None:
    text = LAB.replace('security_groups = ["web"]', 'security_group = ["web"]')
    msg = error_of(text, secret="x")
    assert msg.startswith("lab.toml:22: server.web.security_group: unknown key")
    assert "did you mean 'security_groups'?" in msg
    assert "nothing was changed" in msg


def test_an_unknown_top_level_table_is_suggested_too() -> None:
    msg = error_of('[servers.web]\nimage = "tiny"\nflavor = "m1.nano"\n')
    assert msg.startswith("lab.toml:1: servers: unknown key") and "'server'" in msg


def test_a_wrong_type_says_what_was_expected() -> None:
    text = LAB.replace('cidr = "10.40.0.0/24"', "cidr = 24")
    msg = error_of(text, secret="x")
    assert msg.startswith("lab.toml:12: subnet.lan-sub.cidr: expected a string, got an integer")


def test_an_unknown_reference_points_at_its_line() -> None:
    text = LAB.replace('networks = ["lan"]', 'networks = ["wan"]')
    msg = error_of(text, secret="x")
    assert msg.startswith("lab.toml:21: server.web.networks[0].network: unknown reference")
    assert "no network named 'wan'" in msg


def test_a_reference_to_a_counted_server_names_its_instances() -> None:
    text = LAB + '\n[floating_ip.f]\nnetwork = "lan"\nserver = "web"\n'
    msg = error_of(text, secret="x")
    assert "floating_ip.f.server: unknown reference" in msg
    assert "name one of web-1, web-2" in msg


def test_a_dependency_cycle_is_refused_with_the_chain() -> None:
    text = """\
[security_group.a]
rules = [{ remote_group = "b" }]

[security_group.b]
rules = [{ remote_group = "a" }]
"""
    msg = error_of(text)
    assert msg.startswith("lab.toml:2: security_group.a.rules[0].remote_group: dependency cycle")
    assert "security_group.a -> security_group.b -> security_group.a" in msg


def test_a_group_may_name_itself_as_remote_group() -> None:
    stack = load('[security_group.a]\nrules = [{ remote_group = "a" }]\n')
    assert graph(stack, exists) == {("security_group", "a"): set()}


def test_a_duplicate_name_is_refused() -> None:
    msg = error_of("[network.lan]\n[network.lan]\n")
    assert msg.startswith("lab.toml: duplicate name") and "line 2" in msg


def test_a_counted_server_clashing_with_a_declared_one_is_a_duplicate() -> None:
    text = LAB + '\n[server.web-2]\nimage = "tiny"\nflavor = "m1.nano"\n'
    msg = error_of(text, secret="x")
    assert "duplicate name: server 'web-2' is declared twice" in msg


def test_a_parameter_that_is_not_set_is_refused() -> None:
    text = LAB + '\n[keypair.k]\npublic_key = "${secret}"\n'
    msg = error_of(text)
    assert "keypair.k.public_key: parameter 'secret' is not set" in msg
    assert "--param secret=VALUE (the admin password)" in msg


def test_an_undeclared_parameter_is_refused() -> None:
    msg = error_of('[server.a]\nimage = "tiny"\nflavor = "${size}"\n')
    assert msg.startswith("lab.toml:3: server.a.flavor: unknown parameter 'size'")


def test_a_missing_required_key_and_a_bad_name() -> None:
    assert "server.a: missing required key 'flavor'" in error_of('[server.a]\nimage = "tiny"\n')
    assert "invalid network name" in error_of('[network."bad name"]\n')


def test_outputs_must_name_declared_resources() -> None:
    msg = error_of(LAB.replace("web-1.address", "db.address"), secret="x")
    assert "outputs.web1: unknown reference: the stack declares no server named 'db'" in msg


def test_lab_toml_config_keys_are_left_to_the_lab_config() -> None:
    stack = load('[site]\nstate_dir = "/x"\n[[flavors]]\nname = "a"\n[network.lan]\n')
    assert list(stack.decls) == [("network", "lan")]


def test_what_uses_a_network_waits_for_its_subnets_and_a_fip_for_its_router() -> None:
    text = (
        LAB
        + """
[network.public]
external = true
[subnet.public-sub]
network = "public"
cidr = "203.0.113.0/24"
[router.r]
external_gateway = "public"
interfaces = ["lan-sub"]
[floating_ip.f]
network = "public"
server = "web-1"
"""
    )
    deps = graph(load(text, secret="x"), exists)
    assert ("subnet", "lan-sub") in deps[("server", "web-1")]
    assert ("subnet", "public-sub") in deps[("router", "r")]
    assert {("subnet", "public-sub"), ("router", "r"), ("server", "web-1")} <= deps[
        ("floating_ip", "f")
    ]


def test_lines_are_found_for_quoted_names_and_keys_inside_inline_tables() -> None:
    text = """\
[flavor."m1.big"]
vcpus = "2"
ram = 256

[security_group.web]
rules = [
  { protocol = "tcp", port = 80 },
  { protocol = "tcp", prot = 22 },
]
"""
    assert error_of(
        text.replace('"2"', "2").replace("prot =", "port =").replace("vcpus", "vcpu")
    ).startswith("lab.toml:2: flavor.m1.big.vcpu: unknown key")
    msg = error_of(text.replace('"2"', "2"))
    assert msg.startswith("lab.toml:8: security_group.web.rules[1].prot: unknown key")
    assert "did you mean 'port'?" in msg
