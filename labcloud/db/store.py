"""The SQLite store: WAL, file mode 0600, migrations on start, immediate write transactions."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlmodel import Session

from labcloud.db.engines import engine_for
from labcloud.db.migrations import HEAD_REVISION
from labcloud.errors import ConfigError

DB_NAME = "labcloud.db"


class Store:
    """One per process. Sessions from `read()` see a snapshot; `write()` holds the write lock."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / DB_NAME
        _ensure_db_file(state_dir, self.path)
        self.engine = engine_for(self.path)
        # A second handle on the same pool whose transactions begin IMMEDIATE, so a
        # read-check-insert (allocation, quota) can never interleave with another writer.
        self._write_engine = self.engine.execution_options(lc_immediate=True)
        self._upgrade_if_needed()

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        with Session(self._write_engine, expire_on_commit=False) as session, session.begin():
            yield session

    def _upgrade_if_needed(self) -> None:
        # Fast path: one query. Alembic is imported only when the schema is behind.
        if self.current_revision() == HEAD_REVISION:
            return
        lock_path = self.path.with_suffix(".migrate.lock")
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.current_revision() != HEAD_REVISION:
                from labcloud.db.migrations.runner import upgrade

                upgrade(self.engine)

    def current_revision(self) -> str | None:
        con = sqlite3.connect(self.path)
        try:
            row = con.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.OperationalError:
            return None
        finally:
            con.close()
        return row[0] if row else None


def _ensure_db_file(state_dir: Path, path: Path) -> None:
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        # Created 0600 before SQLite opens it; SQLite gives -wal and -shm the same mode.
        # Only when missing: closing any fd of an open database drops this process's
        # POSIX locks on it, and another process may then delete the WAL under our feet.
        if not path.exists():
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
    except OSError as exc:
        raise ConfigError(
            f"state directory {state_dir} is not writable: {exc.strerror}",
            "set [site] state_dir in lab.toml to a directory you can write, or run as root",
        ) from None
    if not os.access(path, os.R_OK | os.W_OK):
        raise ConfigError(f"state database {path} is not writable", "run as its owner or root")
