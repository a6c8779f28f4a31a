"""Snapshots of the main screens at 80x24 (over SSH) and 120x40 (detail pane beside).

Determinism: the lab lives at a fixed path, ids come from a counter, and every stored
time is set to one instant, so a snapshot changes only when the screen does.
`pytest tests/tui/test_snapshots.py --snapshot-update` records them again.
"""

from __future__ import annotations

import itertools
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from labcloud.screens.app import LabApp

from labcloud.lab import Lab
from labcloud.services.core import Caller
from tests.tui.conftest import settle

FIXED_DIR = Path("/tmp/labcloud-tui-snapshots")
INSTANT = "2026-01-01 12:00:00.000000"
SIZES = {"80x24": (80, 24), "120x40": (120, 40)}


@pytest.fixture
def snap_lab(monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    shutil.rmtree(FIXED_DIR, ignore_errors=True)
    FIXED_DIR.mkdir(parents=True)
    counter = itertools.count(1)
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=next(counter)))
    path = FIXED_DIR / "lab.toml"
    path.write_text(
        f'[site]\nstate_dir = "{FIXED_DIR / "state"}"\n'
        'libvirt_uri = "qemu:///system?socket=/nonexistent/libvirt-sock"\n'
        'host_agent = "none"\n'
    )
    lab = Lab.open(str(path))
    # A fixed caller, whoever runs the tests: an admin named student (keypairs show it).
    lab.ctx.caller = Caller("student", is_root=True)
    lab.init()
    lab.keypairs.create("lab-key", _fixed_public_key())
    _freeze_times(lab.store.path)
    yield lab
    shutil.rmtree(FIXED_DIR, ignore_errors=True)


def _fixed_public_key() -> str:
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32))).public_key()
    return key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode() + " lab"


def _freeze_times(db: Path) -> None:
    con = sqlite3.connect(db)
    with con:
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            columns = {row[1] for row in con.execute(f"PRAGMA table_info({table})")}
            for column in columns & {"created_at", "updated_at", "at"}:
                con.execute(f"UPDATE {table} SET {column} = ?", (INSTANT,))
    con.close()


def _shot(snap_compare: Any, lab: Lab, start: str, size: str, *keys: str) -> bool:
    async def ready(pilot: Any) -> None:
        await settle(pilot)
        if keys:
            await pilot.press(*keys)
            await settle(pilot)

    return bool(snap_compare(LabApp(lab, start=start), terminal_size=SIZES[size], run_before=ready))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("view", ["overview", "servers", "flavors", "keypairs", "networks"])
def test_main_screens(snap_compare: Any, snap_lab: Lab, view: str, size: str) -> None:
    assert _shot(snap_compare, snap_lab, view, size)


@pytest.mark.parametrize("size", SIZES)
def test_key_help_on_servers(snap_compare: Any, snap_lab: Lab, size: str) -> None:
    assert _shot(snap_compare, snap_lab, "servers", size, "question_mark")


@pytest.mark.parametrize("size", SIZES)
def test_the_keypair_form(snap_compare: Any, snap_lab: Lab, size: str) -> None:
    assert _shot(snap_compare, snap_lab, "keypairs", size, "c", *"demo")
