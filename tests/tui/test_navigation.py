"""Driving the TUI as a user would, at 80x24, on a real lab whose libvirt is not running."""

from __future__ import annotations

import re

from labcloud.screens.app import LabApp
from labcloud.screens.command_bar import Unknown, resolve
from labcloud.screens.modals import HelpScreen

from labcloud.lab import Lab
from tests.tui.conftest import screen_text, settle


def current(app: LabApp) -> str:
    return app.main.current


async def test_it_opens_on_the_overview_at_80x24(app: LabApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        text = screen_text(pilot)
        assert current(app) == "overview"
        assert "Overview" in text
        assert re.search(r"flavors +6 ", text)
        # No libvirt here: one line says so, and the app keeps going.
        assert "libvirt unreachable" in text.splitlines()[0]
        assert "$ labcloud status" in text
        assert "Quit" in text.splitlines()[-1]  # the footer fits


async def test_colon_flavors_lists_the_labs_flavors(app: LabApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"flavors", "enter")
        await settle(pilot)
        text = screen_text(pilot)
        assert current(app) == "flavors"
        for name in ("m1.nano", "m1.tiny", "m1.small", "m1.xlarge"):
            assert name in text
        assert "$ labcloud flavor list" in text
        # The detail pane shows the selected flavor's full record.
        assert "ram         128" in text


async def test_a_prefix_is_enough_and_number_keys_jump(app: LabApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"ser", "enter")
        await settle(pilot)
        assert current(app) == "servers"
        assert "Servers [0]" in screen_text(pilot)
        await pilot.press("colon", *"events", "enter")
        await settle(pilot)
        assert current(app) == "events"
        await pilot.press("escape")  # back to where we came from
        await settle(pilot)
        assert current(app) == "servers"


async def test_an_unknown_resource_is_a_one_line_error(app: LabApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"nosuch", "enter")
        await settle(pilot)
        assert current(app) == "overview"
        assert "unknown resource 'nosuch' (try: overview, servers" in screen_text(pilot)


async def test_slash_filters_the_rows_and_escape_clears_it(app: LabApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        table = app.main.view.table
        assert table.row_count == 6
        await pilot.press("slash", *"LARGE")
        await settle(pilot)
        assert table.row_count == 2  # m1.large, m1.xlarge
        await pilot.press("enter")  # keep the filter, back to the table
        text = screen_text(pilot)
        assert "Flavors [2/6] /LARGE" in text
        assert "m1.nano" not in text
        await pilot.press("escape")
        await settle(pilot)
        assert table.row_count == 6


async def test_question_mark_lists_every_key_on_the_screen(app: LabApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("2", "question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        ids = [row[2] for row in app.screen.rows]
        for wanted in ("app.command", "app.filter", "go.flavors", "server.stop", "resource.delete"):
            assert wanted in ids
        assert "Keys on Servers" in screen_text(pilot)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_a_refresh_keeps_the_cursor_on_the_same_flavor(lab: Lab, app: LabApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)  # the flavors are loaded before the cursor moves
        await pilot.press("down", "down")
        view = app.main.view
        assert view.selected().cells[0] == "m1.small"
        # Someone else changes the lab: a flavor goes, another comes.
        lab.flavors.delete("m1.nano")
        lab.flavors.create("lab.big", 2, 1024, 5)
        view.reload()
        await settle(pilot)
        table = view.table
        names = [table.get_row_at(i)[0] for i in range(table.row_count)]
        assert "m1.nano" not in names and "lab.big" in names
        assert names[table.cursor_row] == "m1.small"  # the cursor followed its flavor
        assert "lab.big" in screen_text(pilot)


async def test_bindings_can_be_rebound_by_id(lab: Lab) -> None:
    app = LabApp(lab, keymap={"go.flavors": "f"})
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("f")
        await settle(pilot)
        assert current(app) == "flavors"


def test_resolve_names_aliases_and_prefixes() -> None:
    names = {"servers": ("server", "vm"), "flavors": ("flavor",), "subnets": ()}
    assert resolve(":vm", names) == "servers"
    assert resolve("FLA", names) == "flavors"
    assert resolve("q", names) == "quit"
    try:
        resolve("s", names)
    except Unknown as exc:
        assert str(exc) == "ambiguous resource 's': servers, subnets"
    else:
        raise AssertionError("an ambiguous prefix must not resolve")


async def test_the_overview_shows_the_projects_quota_usage_as_bars(lab: Lab) -> None:
    lab.quotas.set("admin", {"instances": 4, "cores": -1})
    async with LabApp(lab).run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        text = screen_text(pilot)
        assert "quota instances" in text and "░░░░░░░░░░░░  0/4" in text
        assert "0 (unlimited)" in text  # cores


async def test_keys_rebound_in_lab_toml_take_effect(lab: Lab) -> None:
    path = lab.config.source
    path.write_text(path.read_text() + '\n[tui.keys]\n"go.flavors" = "f"\n')
    rebound = Lab.open(str(path))
    app = LabApp(rebound)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("f")
        await settle(pilot)
        assert current(app) == "flavors"


async def test_at_project_in_the_command_bar_switches_project(app: LabApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press(":", *"flavors @demo", "enter")
        await settle(pilot)
        text = screen_text(pilot)
        assert current(app) == "flavors"
        assert "project demo" in text.splitlines()[0]
        assert app.lab.identity.list_projects()  # still usable
        # Remembered as the caller's last choice, like `labcloud project use demo`.
        assert Lab.open(str(app.lab.config.source)).project_name == "demo"
        await pilot.press(":", *"@nosuch", "enter")
        await settle(pilot)
        assert "no project named or with ID 'nosuch'" in screen_text(pilot)
        assert "project demo" in screen_text(pilot).splitlines()[0]
