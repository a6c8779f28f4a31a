"""Pilot stories against the real backend. They run inside a harness node, started by
tests/integration/test_tui.py, which sets LABCLOUD_TUI_IN_NODE and LABCLOUD_LAB; run
directly they skip."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import pytest
from labcloud.screens.resource import ResourceView
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, Select, TextArea

from labcloud.lab import Lab
from tests.tui.conftest import screen_text

IN_NODE = os.environ.get("LABCLOUD_TUI_IN_NODE") == "1"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not IN_NODE:
        skip = pytest.mark.skip(reason="runs inside a harness node: tests/integration/test_tui.py")
        for item in items:
            if "in_node" in str(item.path):
                item.add_marker(skip)


@pytest.fixture
def lab(monkeypatch: pytest.MonkeyPatch) -> Lab:
    # Changes must arrive by the change watch, never by the safety-net timer.
    monkeypatch.setattr(ResourceView, "interval", 3600.0)
    return Lab.open()


async def until(pilot: Pilot[Any], ok: Callable[[], bool], what: str, timeout: float = 180) -> None:
    """Wait (no key pressed) until `ok()`; fail with what the screen showed."""
    deadline = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never happened; the screen:\n{screen_text(pilot)}")
        await pilot.pause(0.1)


def rows(pilot: Pilot[Any]) -> list[tuple[str, ...]]:
    view = pilot.app.main.view
    table = view.table
    return [tuple(map(str, table.get_row_at(i))) for i in range(table.row_count)]


def row(pilot: Pilot[Any], name: str) -> tuple[str, ...] | None:
    return next((r for r in rows(pilot) if r[0] == name), None)


async def fill(pilot: Pilot[Any], **values: Any) -> None:
    """Fill the open form: text is typed key by key; selects and boxes are set."""
    screen = pilot.app.screen
    for name, value in values.items():
        widget = screen.query_one(f"#f-{name}")
        if isinstance(widget, Input):
            widget.focus()
            widget.value = ""
            await pilot.press(*str(value))
        elif isinstance(widget, Select):
            await until(
                pilot, lambda w=widget, v=value: v in [o[1] for o in w._options], f"option {value}"
            )
            widget.value = value
        elif isinstance(widget, Checkbox):
            widget.value = bool(value)
        elif isinstance(widget, TextArea):
            widget.text = str(value)
        else:  # a SelectionList
            await until(pilot, lambda w=widget: w.option_count > 0, f"{name} options")
            for item in value:
                widget.select(item)
        await pilot.pause()


def select_row(pilot: Pilot[Any], name: str) -> None:
    """Put the cursor on the row of `name` (as the arrow keys would)."""
    names = [r[0] for r in rows(pilot)]
    pilot.app.main.view.table.move_cursor(row=names.index(name))


async def submit(pilot: Pilot[Any]) -> None:
    """Ctrl+S, then wait for the form to close (its refusal, if any, is in the failure)."""
    from labcloud.screens.forms import FormScreen

    await pilot.press("ctrl+s")
    await until(
        pilot, lambda: not isinstance(pilot.app.screen, FormScreen), "the form to close", 300
    )
