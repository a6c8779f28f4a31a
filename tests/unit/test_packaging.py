"""One import namespace: screens/ and backends/ install as labcloud.screens and .backends,
from an editable install and from a wheel; the layering contracts hold on the wheel's tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _import_paths(env_path: str | None, cwd: Path) -> list[str]:
    code = (
        "import labcloud, labcloud.screens, labcloud.backends, labcloud.cli.main; "
        "print(labcloud.screens.__file__); print(labcloud.backends.__file__)"
    )
    env = {"PATH": "/usr/bin:/bin"} | ({"PYTHONPATH": env_path} if env_path else {})
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
        check=True,
    )
    return out.stdout.split()


def test_editable_install_maps_the_top_level_folders(tmp_path: Path) -> None:
    screens, backends = _import_paths(None, tmp_path)
    assert Path(screens) == REPO / "screens" / "__init__.py"
    assert Path(backends) == REPO / "backends" / "__init__.py"


@pytest.fixture(scope="module")
def wheel_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out / "dist"),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next((out / "dist").glob("labcloud-*.whl"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(out / "site"),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out / "site"


def test_wheel_install_imports_the_same_namespace(wheel_tree: Path, tmp_path: Path) -> None:
    screens, backends = _import_paths(str(wheel_tree), tmp_path)
    assert Path(screens) == wheel_tree / "labcloud" / "screens" / "__init__.py"
    assert Path(backends) == wheel_tree / "labcloud" / "backends" / "__init__.py"
    assert (wheel_tree / "labcloud" / "backends" / "guest" / "init").is_file()
    assert (wheel_tree / "labcloud" / "db" / "migrations" / "env.py").is_file()


def test_layering_contracts_hold(wheel_tree: Path) -> None:
    # The wheel lays the namespace out for real (make lint checks a symlink tree of it).
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run(
        [str(lint), str(REPO / "pyproject.toml"), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=wheel_tree,
        env={"PYTHONPATH": str(wheel_tree), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout
