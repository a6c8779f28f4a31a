"""Every view opens from `:` on a lab without libvirt and shows its list, not an error."""

from __future__ import annotations

import pytest
from labcloud.screens.app import LabApp, ordered_views

from labcloud.lab import Lab
from tests.tui.conftest import screen_text, settle


@pytest.mark.parametrize("name", [v.view_name for v in ordered_views()])
async def test_each_view_opens_without_an_internal_error(lab: Lab, name: str) -> None:
    app = LabApp(lab, start=name)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        view = app.main.view
        assert view is not None and view.view_name == name
        assert "internal error" not in view.note
        text = screen_text(pilot)
        assert f"$ {view.cli}" in text
        assert view.title in text.splitlines()[0]


async def test_the_projects_view_lists_the_seeded_project(lab: Lab) -> None:
    app = LabApp(lab, start="projects")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert lab.project_name in [row[0] for row in app.main.view.items_cells()]


async def test_number_keys_reach_ten_main_screens(lab: Lab) -> None:
    app = LabApp(lab)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        seen = []
        for key in "1234567890":
            await pilot.press(key)
            await settle(pilot)
            seen.append(app.main.current)
        assert seen == [
            "overview", "servers", "images", "flavors", "networks",
            "volumes", "keypairs", "secgroups", "floatingips", "projects",
        ]  # fmt: skip
