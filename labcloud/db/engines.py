"""SQLAlchemy engines for the store, and one spare engine a process may prepare ahead.

SQLAlchemy caches each statement's compiled SQL per engine (its dialect is part of the
key), so a fresh process compiles every statement it runs: about 20 ms of a
`server create`. The fork server (labcloud/cli/forkserver.py) runs the commonest queries
once on a throw-away lab before it forks (labcloud/warmup.py) and keeps that engine as
the spare; the first Store a forked command opens adopts it, pointed at the real
database, and finds those statements compiled. The engine connects through a
`creator`, so adopting it changes only the path its connections open.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.pool import QueuePool

_spare: Engine | None = None
_paths: dict[int, list[Path]] = {}  # id(engine) -> [the path its connections open]


def engine_for(path: Path) -> Engine:
    """An engine on the database at `path`: the spare one when there is one."""
    global _spare
    engine, _spare = _spare, None
    if engine is None:
        return make_engine(path)
    _paths[id(engine)][0] = path
    engine.dispose()  # no connection of the throw-away database survives the move
    return engine


def keep_spare(engine: Engine) -> None:
    """Keep `engine` (made by make_engine) for the next engine_for(), connections closed."""
    global _spare
    engine.dispose()
    _spare = engine


def make_engine(path: Path) -> Engine:
    target = [path]

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(target[0], timeout=30, check_same_thread=False)

    engine = create_engine("sqlite://", creator=connect, poolclass=QueuePool)
    _paths[id(engine)] = target

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        # pysqlite's own transaction handling is turned off; we emit BEGIN ourselves.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("lc_immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
