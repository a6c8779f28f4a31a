"""Forms and deletion, as a user drives them: a keypair made and deleted from the TUI.

Keypairs live in the store alone, so this runs without libvirt; the stories that need the
real machinery (servers, networks, volumes) run in a harness node (tests/integration)."""

from __future__ import annotations

from labcloud.screens.app import LabApp
from labcloud.screens.forms import FormScreen
from labcloud.screens.modals import ConfirmScreen

from labcloud.lab import Lab
from tests.tui.conftest import screen_text, settle


async def test_a_keypair_is_made_in_a_form_and_deleted_after_a_confirmation(lab: Lab) -> None:
    app = LabApp(lab, start="keypairs")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, FormScreen)
        await pilot.press(*"bad name")
        text = screen_text(pilot)
        # Checked as typed, with the same words the CLI would use.
        assert "invalid keypair name 'bad name'" in text
        assert "$ labcloud keypair create 'bad name'" in text
        await pilot.press("ctrl+s")  # refused: the form stays
        await settle(pilot)
        assert isinstance(app.screen, FormScreen)
        for _ in "bad name":
            await pilot.press("backspace")
        await pilot.press(*"lab-key")
        assert "$ labcloud keypair create lab-key" in screen_text(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, FormScreen)
        assert "lab-key" in screen_text(pilot)
        assert [k.name for k in lab.keypairs.list()] == ["lab-key"]

        await pilot.press("ctrl+d")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert "Delete keypair lab-key?" in screen_text(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert lab.keypairs.list() == []
        assert "$ labcloud keypair delete lab-key" in screen_text(pilot)
        assert app.main.view.table.row_count == 0


async def test_a_refusal_shows_the_services_one_line_and_keeps_the_form(lab: Lab) -> None:
    lab.keypairs.create("taken")
    app = LabApp(lab, start="keypairs")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("c", *"taken", "ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, FormScreen)
        assert "already exists" in screen_text(pilot)
