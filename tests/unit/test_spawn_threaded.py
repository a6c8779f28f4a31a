"""A detached helper started from a threaded process (`labcloud serve`) starts, and the
caller goes on: it never forks Python code that could wait on another thread's lock."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from labcloud.detached import spawn_module


def test_a_threaded_caller_spawns_the_module_and_goes_on(tmp_path: Path) -> None:
    stop = threading.Event()
    busy = threading.Thread(target=stop.wait, daemon=True)
    busy.start()
    try:
        archive = tmp_path / "made-by-the-helper.zip"
        started = time.monotonic()
        spawn_module("zipfile", "-c", str(archive), __file__)
        assert time.monotonic() - started < 10
        deadline = time.monotonic() + 20
        while not archive.exists():
            assert time.monotonic() < deadline, "the detached module never ran"
            time.sleep(0.05)
    finally:
        stop.set()
