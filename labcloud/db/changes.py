"""A cheap "did anything change?" for the store: SQLite's PRAGMA data_version.

The number changes whenever another connection (in this process or any other) commits,
so a watcher can ask it many times a second without reading a single row.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path


class ChangeCounter:
    def __init__(self, path: Path) -> None:
        # Its own connection: data_version ignores commits made on the same connection,
        # and this one never writes, so it sees every commit.
        self._con = sqlite3.connect(path, check_same_thread=False, timeout=30)
        self._lock = threading.Lock()

    def version(self) -> int:
        with self._lock:
            # fetchall: a statement stepped to its end holds no read snapshot, so the
            # next call sees the latest commit (fetchone would keep the old one open).
            return int(self._con.execute("PRAGMA data_version").fetchall()[0][0])

    def close(self) -> None:
        with self._lock:
            self._con.close()
