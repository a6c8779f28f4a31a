"""Names in any script, free-text descriptions, long names, at 80x24.

labcloud/names.py takes letters of every alphabet (`研究室-ラボ` is a valid project name),
and descriptions are free text: CJK and emoji take two terminal cells each, and a
description may hold brackets that look like Rich markup. The tables must line up by
cells, cut long text with "…" (the detail pane has it whole) and show brackets as typed.
"""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from labcloud.screens.app import LabApp
from rich.cells import cell_len

from labcloud.lab import Lab
from tests.tui.conftest import screen_text, settle
from tests.tui.test_snapshots import _freeze_times, snap_lab  # noqa: F401 - the fixture
from tests.tui.test_snapshots_light import drawn

LONG = "distributed-systems-course-2026-autumn-group-seventeen-project-x"  # 64, the most
CJK = "研究室-ラボ"
CJK_TEXT = "機械学習の実験 🚀 GPU なし、学生向けの長い説明文がここに続きます"
BRACKETS = "naïve café [/oops] [red]not red[/red] 👩‍🔬"


def _fill(lab: Lab) -> None:
    lab.identity.create_project(CJK, CJK_TEXT)
    lab.identity.create_project(LONG, BRACKETS)
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))).public_key()
    lab.keypairs.create(
        "鍵-ひろし", key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()
    )


def _column(line: str, word: str) -> int:
    """The terminal cell where `word` starts on `line`."""
    return cell_len(line[: line.index(word)])


async def test_wide_and_long_text_lines_up_and_is_cut(lab: Lab) -> None:
    _fill(lab)
    app = LabApp(lab, start="projects")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        lines = screen_text(pilot).splitlines()
        body = {line.split()[0]: line for line in lines[2:6]}
        assert set(body) == {"admin", "demo", LONG[:35] + "…", CJK}
        # Every row's Enabled column starts at the header's cell, whatever came before.
        header = _column(lines[1], "Enabled")
        assert {_column(line, "True") for line in body.values()} == {header}
        assert "naïve café [/oops] [red]not" in body[LONG[:35] + "…"]  # as typed, not markup
        assert "機械学習の実験 🚀" in body[CJK]

        # The detail pane has the whole name and description.
        names = [str(r[0]) for r in (app.main.view.table.get_row_at(i) for i in range(4))]
        app.main.view.table.move_cursor(row=names.index(LONG))
        await settle(pilot)
        text = screen_text(pilot)
        assert f"name         {LONG}" in text
        assert BRACKETS in text


async def test_events_show_wide_names_and_the_filter_finds_them(lab: Lab) -> None:
    _fill(lab)
    app = LabApp(lab, start="events")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"ひろし")
        await settle(pilot)
        lines = screen_text(pilot).splitlines()
        assert "Events [1/3] /ひろし" in lines[0]
        assert "鍵-ひろし" in lines[2]


@pytest.mark.parametrize("view", ["projects", "events", "keypairs"])
def test_wide_text_snapshot(snap_compare: Any, snap_lab: Lab, view: str) -> None:  # noqa: F811
    _fill(snap_lab)
    _freeze_times(snap_lab.store.path)

    assert snap_compare(LabApp(snap_lab, start=view), terminal_size=(80, 24), run_before=drawn)
