"""Live updates at scale: a reload never hides the table, and the diff stays linear."""

from __future__ import annotations

import threading

from labcloud.screens.app import LabApp
from labcloud.screens.diff import plan
from textual.widgets import LoadingIndicator

from labcloud.lab import Lab
from tests.tui.conftest import screen_text, settle


async def test_a_live_update_keeps_the_table_on_screen_while_it_loads(lab: Lab) -> None:
    """A reload used to set Widget.loading, covering the view with a new LoadingIndicator
    on every change (five times a second under churn): a flicker, and memory that grew."""
    app = LabApp(lab, start="flavors")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        view = app.main.view
        fetch, gate = view.fetch, threading.Event()

        def slow_fetch():  # type: ignore[no-untyped-def]
            gate.wait(10)
            return fetch()

        view.fetch = slow_fetch  # type: ignore[method-assign]
        app.post_message(LabApp.LabChanged())  # what the change watcher sends
        await pilot.pause(0.2)
        try:
            assert "m1.nano" in screen_text(pilot)  # the rows stay on screen
            assert not list(app.screen.query(LoadingIndicator))
            assert view.fetching, "the reload should be in flight"
        finally:
            gate.set()
        await settle(pilot)
        assert not view.fetching
        assert "m1.nano" in screen_text(pilot)


def test_one_changed_server_among_a_thousand_is_one_cell_update() -> None:
    old = [(f"id-{i}", (f"bulk-{i:04d}", "SHUTOFF")) for i in range(1000)]
    new = list(old)
    new[500] = ("id-500", ("bulk-0500", "ACTIVE"))
    todo = plan(old, new, "id-999", 999)
    assert not todo.rebuild
    assert todo.changed == (("id-500", 1, "ACTIVE"),)
    assert todo.removed == () and todo.added == ()
    assert todo.cursor == 999
