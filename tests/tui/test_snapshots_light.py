"""Snapshots for light terminals and wide text, at 80x24 (a laptop's SSH window).

- `[tui] theme = "light"` in lab.toml: the main screens, the key help and a form must be
  readable on a light background (Textual's textual-light theme).
- Names may be in any script (labcloud/names.py takes letters of every alphabet) and
  descriptions are free text: CJK and emoji take two cells each, so columns must still line
  up and long text must be cut, not wrapped across rows.

The determinism comes from test_snapshots.py's `snap_lab` (fixed path, counted UUIDs,
frozen times); `--snapshot-update` records them again.
"""

from __future__ import annotations

from typing import Any

import pytest
from labcloud.screens.app import LabApp

from labcloud.lab import Lab
from labcloud.services.core import Caller
from tests.tui.conftest import settle
from tests.tui.test_snapshots import snap_lab  # noqa: F401 - the fixture

SIZE = (80, 24)


def _reopen(lab: Lab, toml: str) -> Lab:
    """The same lab with more lab.toml, as a user editing the file would have it."""
    assert lab.config.source is not None
    with open(lab.config.source, "a") as out:
        out.write(toml)
    again = Lab.open(str(lab.config.source))
    again.ctx.caller = Caller("student", is_root=True)
    return again


@pytest.fixture
def light_lab(snap_lab: Lab) -> Lab:  # noqa: F811 - the imported fixture
    return _reopen(snap_lab, '\n[tui]\ntheme = "light"\n')


async def drawn(pilot: Any) -> None:
    """Every worker done and the footer's keys drawn (it recomposes a moment after focus
    moves; a busy machine once caught a snapshot without it)."""
    await settle(pilot)
    for _ in range(50):
        if pilot.app.main.query("FooterKey"):
            return
        await pilot.pause(0.02)
    raise AssertionError("the footer never drew its keys")


def _shot(snap_compare: Any, lab: Lab, start: str, *keys: str) -> bool:
    async def ready(pilot: Any) -> None:
        await drawn(pilot)
        if keys:
            await pilot.press(*keys)
            await drawn(pilot)

    return bool(snap_compare(LabApp(lab, start=start), terminal_size=SIZE, run_before=ready))


def test_the_theme_comes_from_lab_toml(light_lab: Lab) -> None:
    assert light_lab.config.tui.theme == "light"
    assert LabApp(light_lab).theme == "textual-light"


@pytest.mark.parametrize(
    "view", ["overview", "servers", "flavors", "keypairs", "networks", "secgroups", "routers"]
)
def test_main_screens_in_light(snap_compare: Any, light_lab: Lab, view: str) -> None:
    assert _shot(snap_compare, light_lab, view)


def test_key_help_in_light(snap_compare: Any, light_lab: Lab) -> None:
    assert _shot(snap_compare, light_lab, "routers", "question_mark")


def test_a_form_with_an_inline_error_in_light(snap_compare: Any, light_lab: Lab) -> None:
    assert _shot(snap_compare, light_lab, "keypairs", "c", *"bad name")


def test_a_confirmation_in_light(snap_compare: Any, light_lab: Lab) -> None:
    assert _shot(snap_compare, light_lab, "keypairs", "ctrl+d")
