"""Starting the TUI from the `labcloud` command: on a terminal it opens, piped it does not,
and the headless commands never load Textual."""

from __future__ import annotations

import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from fcntl import ioctl
from pathlib import Path

import pytest

from labcloud.lab import Lab

LABCLOUD = str(Path(sys.executable).with_name("labcloud"))


@pytest.fixture
def env(lab: Lab) -> dict[str, str]:
    return os.environ | {
        "LABCLOUD_LAB": str(lab.config.source),
        "LABCLOUD_NO_DAEMON": "1",  # run in this process: no fork server left behind
        "TERM": "xterm-256color",
    }


def test_piped_labcloud_alone_still_runs_the_status(env: dict[str, str]) -> None:
    alone = subprocess.run([LABCLOUD], capture_output=True, text=True, env=env, timeout=60)
    status = subprocess.run(
        [LABCLOUD, "status"], capture_output=True, text=True, env=env, timeout=60
    )
    # This lab has no libvirt, so `status` says so in one line: the same line, the same code.
    assert (alone.returncode, alone.stdout, alone.stderr) == (
        status.returncode,
        status.stdout,
        status.stderr,
    )
    assert "cannot connect to libvirt" in alone.stderr


def test_tui_without_a_terminal_is_a_one_line_usage_error(env: dict[str, str]) -> None:
    out = subprocess.run([LABCLOUD, "tui"], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "labcloud: the TUI needs a terminal (run it in one, or use the commands)"
    )


def test_the_headless_cli_never_imports_textual(env: dict[str, str]) -> None:
    code = (
        "import sys; from labcloud.cli.main import main; main(['flavor', 'list']); "
        "print('textual' in sys.modules, 'labcloud.screens.app' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.splitlines()[-1] == "False False", out.stdout + out.stderr


def _read_until(fd: int, needle: bytes, deadline: float) -> bytes:
    seen = b""
    while needle not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{needle!r} never appeared; the terminal showed {seen[-500:]!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen


@pytest.mark.parametrize("argv", [[], ["tui", "flavors"]], ids=["labcloud", "labcloud-tui"])
def test_on_a_terminal_the_tui_opens_and_q_quits(env: dict[str, str], argv: list[str]) -> None:
    parent, child = pty.openpty()
    ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen(
        [LABCLOUD, *argv], stdin=child, stdout=child, stderr=child, env=env, start_new_session=True
    )
    os.close(child)
    try:
        wanted = b"m1.nano" if argv else b"Overview"
        _read_until(parent, wanted, time.monotonic() + 60)
        os.write(parent, b"q")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(parent)
