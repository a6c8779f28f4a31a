"""The action forms (attach, associate, router legs and gateway, remove a rule) without a
backend: the line each shows is a real `labcloud` command meaning the same thing, input is
checked as typed with the service's words, removing asks first, and `?` lists the keys."""

from __future__ import annotations

import re
import shlex
from typing import Any

from labcloud.screens import action_forms
from labcloud.screens.app import LabApp
from labcloud.screens.forms import Field, Form, FormScreen
from labcloud.screens.modals import ConfirmScreen, HelpScreen
from textual.app import App

import labcloud.cli.commands  # noqa: F401 - registers every command
from labcloud.cli.main import _add_global_options
from labcloud.cli.registry import Parser, match
from labcloud.errors import LabError
from labcloud.lab import Lab
from tests.tui.conftest import screen_text, settle


def parse(line: str) -> tuple[str, Any]:
    """What the CLI makes of a shown line: the command's words and its parsed arguments."""
    words = shlex.split(line)
    assert words[0] == "labcloud"
    cmd, n = match(words[1:])
    assert cmd is not None, line
    parser = Parser(prog=cmd.name)
    _add_global_options(parser)
    for a in cmd.args:
        parser.add_argument(*a.flags, **a.kwargs)
    return cmd.name, parser.parse_args(words[1 + n :])


def test_each_action_shows_the_cli_command_that_does_the_same() -> None:
    name, a = parse(
        action_forms.attach_volume_form("data1").cli({"server": "web1", "device": "vdc"})
    )
    assert (name, a.server, a.volume, a.device) == ("server add volume", "web1", "data1", "vdc")

    form = action_forms.associate_fip_form("203.0.113.7")
    name, a = parse(form.cli({"server": "web1", "fixed": ""}))
    assert (name, a.server, a.floating_ip) == ("server add floating ip", "web1", "203.0.113.7")
    assert a.fixed_ip_address is None

    name, a = parse(action_forms.add_subnet_form("r1", []).cli({"subnet": "sub1"}))
    assert (name, a.router, a.subnet) == ("router add subnet", "r1", "sub1")
    name, a = parse(action_forms.remove_subnet_form("r1", ["sub1"]).cli({"subnet": "sub1"}))
    assert (name, a.router, a.subnet) == ("router remove subnet", "r1", "sub1")
    name, a = parse(action_forms.gateway_form("r1").cli({"network": "public"}))
    assert (name, a.router, a.external_gateway) == ("router set", "r1", "public")

    rule = "0b7e3f7c-7d4e-4a59-9d0e-6f1d7f1e2a3b"
    name, a = parse(action_forms.delete_rule_form("web", lambda _lab: []).cli({"rule": rule}))
    assert (name, a.rule) == ("security group rule delete", [rule])


def _refusal(form: Form, field: str, text: str) -> str:
    check = next(f for f in form.fields if f.name == field).check
    assert check is not None
    try:
        check(text)
    except LabError as exc:
        return exc.one_line()
    return ""


def test_bad_input_is_refused_as_typed_in_the_services_words() -> None:
    attach = action_forms.attach_volume_form("data1")
    assert "vda is the server's root disk" in _refusal(attach, "device", "vda")
    assert "invalid --device 'sdb'" in _refusal(attach, "device", "sdb")
    assert _refusal(attach, "device", "vdc") == ""
    fip = action_forms.associate_fip_form("203.0.113.7")
    assert "invalid IP address '10.0.0.300'" in _refusal(fip, "fixed", "10.0.0.300")
    assert _refusal(fip, "fixed", "10.0.0.3") == ""


class _FormApp(App[None]):
    """One form over an empty screen; the submits it made are kept."""

    def __init__(self, form: Form) -> None:
        super().__init__()
        self.form = form
        self.outcome: str | None = "not closed"

    def on_mount(self) -> None:
        self.push_screen(FormScreen(None, self.form), self._done)

    def _done(self, outcome: str | None) -> None:
        self.outcome = outcome


async def test_a_removing_form_asks_first_and_no_keeps_everything() -> None:
    made: list[dict[str, Any]] = []

    def submit(_lab: Any, values: dict[str, Any], _report: Any) -> str:
        made.append(values)
        return f"removed {values['what']}"

    form = Form(
        "Remove a thing",
        [Field("what", "What", required=True)],
        lambda v: f"labcloud thing remove {v['what']}",
        submit,
        verb="Remove",
        confirm=lambda v: f"Remove {v['what']}?",
    )
    app = _FormApp(form)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"t1", "ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        text = screen_text(pilot)
        assert "Remove t1?" in text and "$ labcloud thing remove t1" in text
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, FormScreen) and made == []  # no: nothing happened
        await pilot.press("ctrl+s", "y")
        await settle(pilot)
        assert made == [{"what": "t1"}]
        assert app.outcome == "removed t1"


async def test_help_lists_the_actions_with_their_ids_and_they_rebind(lab: Lab) -> None:
    app = LabApp(lab, start="routers", keymap={"router.set_gateway": "e"})
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(pilot)
        for key, words, action in (
            ("a", "Add subnet", "router.add_subnet"),
            ("x", "Remove subnet", "router.remove_subnet"),
            ("e", "Gateway", "router.set_gateway"),
            ("n", "No gateway", "router.clear_gateway"),
        ):
            assert re.search(rf"█ {key} +{words} +{re.escape(action)} ", text), text
        await pilot.press("escape", "6", "question_mark")
        await settle(pilot)
        text = screen_text(pilot)
        assert "volume.attach" in text and "volume.detach" in text


async def test_an_action_on_an_empty_list_says_so(lab: Lab) -> None:
    app = LabApp(lab, start="routers")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert not isinstance(app.screen, FormScreen)
        assert " no router selected" in screen_text(pilot).splitlines()[-2]  # the hint line
