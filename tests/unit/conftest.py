"""Unit-test fixtures: a lab file and state dir in a temp directory, no root, no libvirt."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

LABCLOUD = str(Path(sys.executable).with_name("labcloud"))


@pytest.fixture
def lab_file(tmp_path: Path) -> Path:
    path = tmp_path / "lab.toml"
    path.write_text(
        f'[site]\nstate_dir = "{tmp_path / "state"}"\n'
        'libvirt_uri = "qemu:///system?socket=/nonexistent/libvirt-sock"\n'
        'host_agent = "none"\n'
    )
    return path


@pytest.fixture
def cli(lab_file: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run the real `labcloud` console script against the temp lab."""
    monkeypatch.setenv("LABCLOUD_LAB", str(lab_file))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([LABCLOUD, *args], capture_output=True, text=True, timeout=60)

    return run
