"""The forms of the views' actions on an existing resource: attach a volume, put a floating
IP on a server, give a router a subnet or a gateway, remove one security group rule.

As in create_forms.py, each `submit` runs in a worker and makes the one service call that
the `labcloud ...` line it shows makes. The forms that take something away ask first.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from labcloud.screens.create_forms import _networks, _subnets
from labcloud.screens.forms import Choices, Field, Form, Report, Values, cli_line, flag

from labcloud.errors import UsageError
from labcloud.services.volumes import choose_device


def _servers(lab: Any) -> list[tuple[str, str]]:
    # The store's view of the project's servers: no libvirt call to fill a list.
    return [(f"{s.name} ({s.status})", s.name) for s in lab.compute.list(sync=False)]


def _device_check(text: str) -> None:
    if text:
        choose_device(set(), text)


def _ip_check(text: str) -> None:
    if text:
        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise UsageError(f"invalid IP address {text!r}", "e.g. 10.0.0.5") from None


# -- volumes: `server add volume` ------
def attach_volume_form(volume: str) -> Form:
    def cli(values: Values) -> str:
        argv = ["server", "add", "volume", values["server"], volume]
        flag(argv, "--device", values["device"])
        return cli_line(argv)

    def submit(lab: Any, values: Values, report: Report) -> str:
        vol = lab.volumes.attach(values["server"], volume, values["device"] or None)
        return f"volume {vol.name} attached to {values['server']} on /dev/{vol.device}"

    return Form(
        f"Attach volume {volume} to a server",
        [
            Field("server", "Server", "select", required=True, choices=_servers),
            Field("device", "Device (empty: the first free one)", placeholder="vdb",
                  check=_device_check),
        ],
        cli,
        submit,
        verb="Attach",
    )  # fmt: skip


# -- floating IPs: `server add floating ip` ------
def associate_fip_form(address: str) -> Form:
    def cli(values: Values) -> str:
        argv = ["server", "add", "floating", "ip", values["server"], address]
        flag(argv, "--fixed-ip-address", values["fixed"])
        return cli_line(argv)

    def submit(lab: Any, values: Values, report: Report) -> str:
        fip = lab.floating_ips.associate(values["server"], address, values["fixed"] or None)
        return f"floating IP {address} -> {values['server']} {fip.fixed_ip_address}"

    return Form(
        f"Put floating IP {address} on a server",
        [
            Field("server", "Server", "select", required=True, choices=_servers),
            Field("fixed", "Fixed address (empty: the server's first)", check=_ip_check),
        ],
        cli,
        submit,
        verb="Associate",
    )


# -- routers: `router add subnet`, `router remove subnet`, `router set` ------
def add_subnet_form(router: str, legs: list[str]) -> Form:
    def choices(lab: Any) -> list[tuple[str, str]]:
        return [(label, name) for label, name in _subnets(lab) if name not in legs]

    def submit(lab: Any, values: Values, report: Report) -> str:
        lab.routers.add_subnet(router, values["subnet"])
        return f"router {router} routes {values['subnet']}"

    return Form(
        f"Add an interface to router {router}",
        [Field("subnet", "Subnet", "select", required=True, choices=choices)],
        lambda v: cli_line(["router", "add", "subnet", router, v["subnet"]]),
        submit,
        verb="Add",
    )


def remove_subnet_form(router: str, legs: list[str]) -> Form:
    def submit(lab: Any, values: Values, report: Report) -> str:
        lab.routers.remove_subnet(router, values["subnet"])
        return f"router {router} no longer routes {values['subnet']}"

    return Form(
        f"Remove an interface from router {router}",
        [Field("subnet", "Subnet", "select", required=True,
               choices=lambda _lab: [(name, name) for name in legs])],
        lambda v: cli_line(["router", "remove", "subnet", router, v["subnet"]]),
        submit,
        verb="Remove",
        confirm=lambda v: f"Remove router {router}'s interface on {v['subnet']}?",
    )  # fmt: skip


def gateway_form(router: str) -> Form:
    def submit(lab: Any, values: Values, report: Report) -> str:
        lab.routers.set_gateway(router, values["network"])
        return f"router {router} has its gateway on {values['network']}"

    return Form(
        f"External gateway of router {router}",
        [Field("network", "External network", "select", required=True,
               choices=lambda lab: _networks(lab, True))],
        lambda v: cli_line(["router", "set", router, "--external-gateway", v["network"]]),
        submit,
        verb="Set",
    )  # fmt: skip


# -- security groups: `security group rule delete` ------
def delete_rule_form(group: str, rules: Choices) -> Form:
    """`rules(lab)`: the group's rules as (their line, id), read when the form opens."""

    def submit(lab: Any, values: Values, report: Report) -> str:
        rule = lab.security_groups.delete_rule(values["rule"])
        return f"rule {rule.id[:8]} removed from {group}"

    return Form(
        f"Remove a rule from security group {group}",
        [Field("rule", "Rule", "select", required=True, choices=rules)],
        lambda v: cli_line(["security", "group", "rule", "delete", v["rule"]]),
        submit,
        verb="Remove",
        confirm=lambda v: f"Remove this rule from security group {group}?",
    )
