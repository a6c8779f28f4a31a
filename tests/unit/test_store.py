"""The state store: WAL, 0600, migrations that match the models, safe concurrent writers."""

from __future__ import annotations

import os
import sqlite3
import stat
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import IntegrityError

from labcloud.db.migrations import HEAD_REVISION
from labcloud.db.migrations.runner import alembic_config
from labcloud.db.models import Flavor
from labcloud.db.schema import metadata
from labcloud.db.store import Store
from labcloud.errors import ConfigError


def test_a_new_store_is_wal_0600_and_at_the_head_revision(tmp_path: Path) -> None:
    store = Store(tmp_path / "state")
    mode = stat.S_IMODE(store.path.stat().st_mode)
    assert mode == 0o600
    con = sqlite3.connect(store.path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.current_revision() == HEAD_REVISION


def test_head_revision_constant_matches_the_migration_scripts(tmp_path: Path) -> None:
    store = Store(tmp_path)
    script = ScriptDirectory.from_config(alembic_config(store.engine))
    assert script.get_current_head() == HEAD_REVISION


def test_migrations_create_exactly_the_models_schema(tmp_path: Path) -> None:
    store = Store(tmp_path)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_unwritable_state_dir_is_a_config_error(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        target = Path("/proc/labcloud-state")  # not creatable even by root
    else:
        tmp_path.chmod(0o500)
        target = tmp_path / "state"
    with pytest.raises(ConfigError, match="not writable"):
        Store(target)


def _insert_flavor(args: tuple[str, str]) -> str:
    state_dir, name = args
    store = Store(Path(state_dir))
    try:
        with store.write() as s:
            s.add(
                Flavor(id=os.urandom(8).hex(), name=name, status="active", vcpus=1, ram=64, disk=1)
            )
        return "ok"
    except IntegrityError:
        return "conflict"


def test_racing_writers_never_create_a_duplicate_name(tmp_path: Path) -> None:
    Store(tmp_path)
    with ProcessPoolExecutor(4) as pool:
        results = list(pool.map(_insert_flavor, [(str(tmp_path), "same")] * 8))
    assert results.count("ok") == 1
    assert results.count("conflict") == 7
