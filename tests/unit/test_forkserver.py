"""The warm fork server: the second command is served by it, with the caller's
environment, working directory, streams and exit status; stale code is never served."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from labcloud import detached

LABCLOUD = Path(sys.executable).parent / "labcloud"


@pytest.fixture
def env() -> Iterator[dict[str, str]]:
    """A private socket directory and lab; the server it starts is stopped at the end."""
    run_dir = Path(tempfile.mkdtemp(prefix="lcfs-"))  # short: unix socket paths are limited
    lab = run_dir / "lab.toml"
    lab.write_text(f'[site]\nstate_dir = "{run_dir / "state"}"\nhost_agent = "none"\n')
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LABCLOUD_")}
    environ |= {"LABCLOUD_RUNTIME_DIR": str(run_dir), "LABCLOUD_LAB": str(lab)}
    try:
        yield environ
    finally:
        status = labcloud(environ, "daemon", "status", "-f", "json")
        if json.loads(status.stdout)["running"]:
            labcloud(environ, "daemon", "stop")
            wait_for(lambda: not sockets(environ), "the server to stop")


def labcloud(
    env: dict[str, str], *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LABCLOUD), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def sockets(env: dict[str, str]) -> list[Path]:
    return list(Path(env["LABCLOUD_RUNTIME_DIR"]).glob("labcloud-*/forkserver-*.sock"))


def wait_for(check: object, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def served(env: dict[str, str]) -> dict[str, object]:
    """Start the server (the first command runs cold and spawns it) and wait until it serves."""
    labcloud(env, "flavor", "list")
    wait_for(lambda: sockets(env), "the fork server's socket")
    status = json.loads(labcloud(env, "daemon", "status", "-f", "json").stdout)
    return dict(status)


def test_the_first_command_starts_a_server_that_serves_the_next(env: dict[str, str]) -> None:
    cold = json.loads(labcloud(env, "daemon", "status", "-f", "json").stdout)
    assert cold["running"] is False  # `daemon` never spawns one itself
    status = served(env)
    assert status["running"] is True
    cmdline = Path(f"/proc/{status['pid']}/cmdline").read_bytes().split(b"\0")
    assert b"labcloud.cli.forkserver" in cmdline
    socket_dir = sockets(env)[0].parent
    assert socket_dir.stat().st_mode & 0o777 == 0o700


def test_a_served_command_has_the_callers_cwd_env_and_exit_status(
    env: dict[str, str], tmp_path: Path
) -> None:
    assert served(env)["running"] is True
    assert labcloud(env, "init").returncode == 0
    # The caller's working directory: ./lab.toml is found there when no --lab is given.
    (tmp_path / "lab.toml").write_text(
        f'[site]\nstate_dir = "{tmp_path / "state"}"\nhost_agent = "none"\n\n'
        '[[flavors]]\nname = "cwd.flavor"\nvcpus = 1\nram = 64\ndisk = 1\n'
    )
    no_lab = {k: v for k, v in env.items() if k != "LABCLOUD_LAB"}
    assert labcloud(no_lab, "init", cwd=tmp_path).returncode == 0
    names = labcloud(no_lab, "flavor", "list", "-f", "value", "-c", "Name", cwd=tmp_path)
    assert names.stdout.split() == ["cwd.flavor"]
    # The caller's environment: another project, named only in the environment.
    other = labcloud(env | {"LABCLOUD_PROJECT": "nosuch"}, "server", "list")
    assert other.returncode == 3
    assert "project 'nosuch' does not exist" in other.stderr
    # Exit codes and one-line errors come back as the command gave them.
    missing = labcloud(env, "server", "show", "ghost", "-f", "json")
    assert missing.returncode == 3
    assert json.loads(missing.stderr)["error"]["code"] == "not_found"
    assert labcloud(env, "server", "frobnicate").returncode == 2


def test_disabled_by_the_environment(env: dict[str, str]) -> None:
    assert served(env)["running"] is True
    cold = labcloud(env | {"LABCLOUD_NO_DAEMON": "1"}, "daemon", "status", "-f", "json")
    assert json.loads(cold.stdout)["running"] is False


def test_an_edited_module_makes_the_server_stale(tmp_path: Path) -> None:
    module_file = tmp_path / "probe.py"
    module_file.write_text("X = 1\n")
    probe = types.ModuleType("labcloud._stamp_probe")
    probe.__file__ = str(module_file)
    sys.modules[probe.__name__] = probe
    try:
        stamp = detached.source_stamp()
        assert str(module_file) in stamp
        assert not detached.stale(stamp)
        later = time.time() + 5
        os.utime(module_file, (later, later))
        assert detached.stale(stamp)
    finally:
        del sys.modules[probe.__name__]
