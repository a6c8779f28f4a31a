"""Readable in a light terminal: with `[tui] theme = "light"`, every word on every view, a
form with its inline error, a confirmation and the key help has a contrast of at least 4:1
against its background (WCAG asks 4.5:1 of body text; Textual's own red button is 4.47:1).
Dark, Textual's default theme, is held to 3:1 so that no change makes it worse."""

from __future__ import annotations

from pathlib import Path

import pytest
from labcloud.screens.app import LabApp, ordered_views

from labcloud.lab import Lab
from tests.tui.conftest import settle
from tests.tui.contrast import faint_text

FLOOR = {"light": 4.0, "dark": 3.0}


@pytest.fixture(params=["light", "dark"])
def themed_lab(request: pytest.FixtureRequest, tmp_path: Path) -> Lab:
    path = tmp_path / "lab.toml"
    path.write_text(
        f'[site]\nstate_dir = "{tmp_path / "state"}"\n'
        'libvirt_uri = "qemu:///system?socket=/nonexistent/libvirt-sock"\n'
        'host_agent = "none"\n'
        f'[tui]\ntheme = "{request.param}"\n'
    )
    lab = Lab.open(str(path))
    lab.init()
    lab.keypairs.create("lab-key")
    return lab


async def test_every_screen_is_readable_in_the_configured_theme(themed_lab: Lab) -> None:
    theme = themed_lab.config.tui.theme
    floor = FLOOR[theme]
    app = LabApp(themed_lab, start="keypairs")
    faint: dict[str, list[tuple[float, str]]] = {}
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.theme == f"textual-{theme}"
        for view in ordered_views():
            app.main.action_goto(view.view_name)
            await settle(pilot)
            faint[view.view_name] = faint_text(app, floor)
        app.main.action_goto("keypairs")
        await settle(pilot)
        for name, keys in {
            "form": ("c", *"bad name"),
            "confirm": ("ctrl+d",),
            "help": ("question_mark",),
        }.items():
            await pilot.press(*keys)
            await settle(pilot)
            faint[name] = faint_text(app, floor)
            await pilot.press("escape")
            await settle(pilot)
    assert {k: v for k, v in faint.items() if v} == {}
    assert "form" in faint and "servers" in faint  # every screen was looked at
