"""TUI fixtures: a real Lab on a temp lab.toml and state dir. Its libvirt socket does not
exist, so the app runs from the store alone and says "libvirt unreachable" in one line."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import io
from pathlib import Path
from typing import Any

import pytest
from labcloud.screens.app import LabApp
from rich.console import Console
from textual.pilot import Pilot
from textual.worker import WorkerCancelled

from labcloud.lab import Lab


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run `async def` tests on a fresh event loop (Textual's pilot is async)."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    # The test's own parameters: funcargs also holds autouse fixtures it does not take.
    names = inspect.signature(pyfuncitem.obj).parameters
    asyncio.run(pyfuncitem.obj(**{n: v for n, v in pyfuncitem.funcargs.items() if n in names}))
    return True


@pytest.fixture
def lab(tmp_path: Path) -> Lab:
    path = tmp_path / "lab.toml"
    path.write_text(
        f'[site]\nstate_dir = "{tmp_path / "state"}"\n'
        'libvirt_uri = "qemu:///system?socket=/nonexistent/libvirt-sock"\n'
        'host_agent = "none"\n'
    )
    lab = Lab.open(str(path))
    lab.init()
    return lab


@pytest.fixture
def app(lab: Lab) -> LabApp:
    return LabApp(lab)


def _busy(pilot: Pilot[Any]) -> list[Any]:
    # The change watcher runs for the app's whole life; every other worker ends.
    return [w for w in pilot.app.workers if w.is_running and w.group != "watch"]


async def settle(pilot: Pilot[Any]) -> None:
    """Let every worker finish and its messages land (no sleeps: waits on the workers)."""
    for _ in range(20):
        busy = _busy(pilot)
        if busy:  # (an empty list would mean "every worker", the watcher too)
            with contextlib.suppress(WorkerCancelled):  # replaced by a newer load
                await pilot.app.workers.wait_for_complete(busy)
        await pilot.pause()
        if not _busy(pilot):
            return


def screen_text(pilot: Pilot[Any]) -> str:
    """What the user sees: the screen (with any modal over it) as plain text."""
    app = pilot.app
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True)
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    return console.export_text()
