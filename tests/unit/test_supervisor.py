"""The one supervisor behind dnsmasq and qemu-nbd, with a harmless daemon (sleep): it
detaches, restarts a daemon that dies, is found again only while it is ours, stops with
its daemon, and exits by itself once what it serves is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from labcloud.backends.supervisor import Supervised, daemon_pid, terminate, wait_until

from labcloud.errors import BackendError


@pytest.fixture
def job(tmp_path: Path) -> Iterator[Supervised]:
    supervised = Supervised("job-1", tmp_path / "supervisor.pid", tmp_path / "job.log")
    try:
        yield supervised
    finally:
        supervised.stop()


def _sleeper(tmp_path: Path) -> list[str]:
    return ["sh", "-c", f"echo $$ > {tmp_path / 'sleep.pid'}; exec sleep 600", "--", "x"]


def _sleep_pid(tmp_path: Path) -> int | None:
    return daemon_pid(tmp_path / "sleep.pid", lambda words: words[0] == b"sleep")


def test_a_dead_daemon_is_started_again_and_stop_ends_both(tmp_path: Path, job: Supervised) -> None:
    watch = tmp_path / "volume"
    watch.touch()
    job.start("the test job", "sleeper", _sleeper(tmp_path), watch)
    assert wait_until(lambda: job.pid() is not None and _sleep_pid(tmp_path) is not None, 10)
    supervisor, first = job.pid(), _sleep_pid(tmp_path)
    # Detached: a session of its own (never its leader, so it can take no terminal).
    assert os.getsid(supervisor) not in (os.getsid(0), supervisor)  # type: ignore[arg-type]
    # Another id, or a record whose start time is not the process's, is not ours.
    assert Supervised("job-", job.pidfile, job.log).pid() is None
    job.pidfile.write_text(f"{supervisor} 1\n")
    assert job.pid() is None
    job.pidfile.write_text(f"{supervisor}\n")  # a record from before start times: by name
    assert job.pid() == supervisor

    os.kill(first, signal.SIGKILL)  # type: ignore[arg-type]
    assert wait_until(lambda: _sleep_pid(tmp_path) not in (None, first), 10)
    assert job.pid() == supervisor
    job.stop()
    assert job.pid() is None
    assert wait_until(lambda: _sleep_pid(tmp_path) is None, 5)
    log = job.log.read_text()
    assert "sleeper exited (-9); starting it again in 0.5 s" in log and "stopped" in log


def test_it_exits_once_what_it_serves_is_gone(tmp_path: Path, job: Supervised) -> None:
    watch = tmp_path / "volume"
    watch.touch()
    job.start("the test job", "sleeper", _sleeper(tmp_path), watch)
    assert wait_until(lambda: _sleep_pid(tmp_path) is not None, 10)
    watch.unlink()
    terminate(_sleep_pid(tmp_path), lambda: _sleep_pid(tmp_path))
    assert wait_until(lambda: job.pid() is None, 10)
    assert f"{watch} is gone; exiting" in job.log.read_text()
    assert not job.pidfile.exists()


def test_a_supervisor_that_cannot_start_says_why(tmp_path: Path, job: Supervised) -> None:
    with pytest.raises(BackendError, match=r"cannot start the test job: .*no command"):
        job.start("the test job", "sleeper", [], tmp_path)


def test_a_supervisor_started_before_the_merge_is_still_found_and_stopped(
    tmp_path: Path, job: Supervised
) -> None:
    # Its command line: python -m labcloud.backends.dhcp_supervisor NETNS CONF PIDFILE LOG
    script = "import time; time.sleep(600)"
    argv = [sys.executable, "-c", script, "labcloud.backends.dhcp_supervisor", "job-1"]
    former = subprocess.Popen(argv)
    try:
        job.pidfile.write_text(f"{former.pid}\n")
        assert wait_until(lambda: job.pid() == former.pid, 5)
        job.stop()
        assert former.wait(timeout=10) == -signal.SIGTERM
    finally:
        former.kill()
        former.wait()
