"""One small supervisor for every daemon labcloud keeps running: each network's dnsmasq
(backends/dnsmasq.py) and each volume's qemu-nbd export (backends/nbd_exports.py).

The caller's side is Supervised: start a supervisor for an argv, tell whether it is alive
and still ours, stop it. The supervisor is its own process (standard library only):

    python -m labcloud.backends.supervisor --id ID --pidfile P --log L --name N \
        --watch PATH [--reload-on-hup] -- ARGV...

It detaches (labcloud.detached.detach), records its PID and start time in P, and runs
ARGV in the foreground, its output appended to L. When the daemon dies it is started
again after a backoff that doubles from 0.5 s up to 10 s (back to 0.5 s once it has stayed
up for a minute). SIGTERM stops the daemon and the supervisor; with --reload-on-hup,
SIGHUP is passed on. It exits by itself once PATH is gone (the namespace or volume it
serves was deleted behind its back). What the daemon is, where its files live and when
it is ready stay with the caller.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from labcloud.detached import detach
from labcloud.errors import BackendError

MODULE = "labcloud.backends.supervisor"
# Supervisors started before the two were merged; still recognised (hence stopped) until
# they have been replaced. Their command line named the ID as a plain argument.
_FORMER_MODULES = ("labcloud.backends.dhcp_supervisor", "labcloud.backends.nbd_supervisor")
BACKOFF_START, BACKOFF_MAX, STABLE_AFTER = 0.5, 10.0, 60.0


# -- the caller's side ------------------------------------------------------------------
class Supervised:
    """One daemon under its own supervisor, found again by `ident` (a network's namespace,
    an export's name) and by the record in `pidfile`."""

    def __init__(self, ident: str, pidfile: Path, log: Path) -> None:
        self.ident, self.pidfile, self.log = ident, pidfile, log

    def pid(self) -> int | None:
        """The supervisor's PID while it runs and is ours: its command line names this
        module and ident, and it started when the record says (so a recycled PID is not)."""
        record = _read_record(self.pidfile)
        if record is None:
            return None
        pid, started = record
        words = _cmdline(pid).split(b"\0")
        ours = MODULE.encode() in words and f"--id={self.ident}".encode() in words
        former = any(m.encode() in words for m in _FORMER_MODULES)
        if not (ours or (former and self.ident.encode() in words)):
            return None
        if started is not None and started != _start_time(pid):
            return None
        return pid

    def start(
        self, what: str, name: str, argv: Sequence[str], watch: Path, reload_on_hup: bool = False
    ) -> None:
        """Start a supervisor running argv (called `name` in the log) while `watch` exists.
        Returns once it has detached; whether the daemon is ready is the caller's to check.
        BackendError naming `what` when the supervisor cannot start."""
        cmd = [sys.executable, "-m", MODULE, f"--id={self.ident}", f"--pidfile={self.pidfile}"]
        cmd += [f"--log={self.log}", f"--name={name}", f"--watch={watch}"]
        cmd += ["--reload-on-hup"] if reload_on_hup else []
        try:
            # Waits for the supervisor's own arguments check and first fork only.
            proc = subprocess.run(
                [*cmd, "--", *argv], capture_output=True, text=True, timeout=30, check=False
            )
        except FileNotFoundError:
            raise BackendError(f"cannot start {what}: no Python interpreter for it") from None
        if proc.returncode != 0:
            err = " ".join(proc.stderr.split())[-300:]
            raise BackendError(f"cannot start {what}: {err}")

    def stop(self) -> None:
        """Stop the supervisor, which stops its daemon first. Idempotent."""
        terminate(self.pid(), self.pid)


def daemon_pid(pidfile: Path, ours: Callable[[list[bytes]], bool]) -> int | None:
    """The PID a daemon wrote itself (dnsmasq's, qemu-nbd's), when its command line (split
    on NUL) passes `ours`: a recycled PID then belongs to someone else."""
    record = _read_record(pidfile)
    if record is None:
        return None
    cmdline = _cmdline(record[0])
    return record[0] if cmdline and ours(cmdline.split(b"\0")) else None


def wait_until(ready: Callable[[], bool], seconds: float) -> bool:
    """Poll `ready` every 50 ms for up to `seconds`."""
    end = time.monotonic() + seconds
    while True:
        if ready():
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(0.05)


def terminate(pid: int | None, still: Callable[[], int | None]) -> None:
    """SIGTERM, wait up to 5 s while `still()` names it, then SIGKILL. Through a pidfd, so
    the signal can only reach the process that was checked, never a recycled PID."""
    if pid is None:
        return
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return
    try:
        signal.pidfd_send_signal(fd, signal.SIGTERM)
        if not wait_until(lambda: still() is None or not Path(f"/proc/{pid}").exists(), 5.0):
            signal.pidfd_send_signal(fd, signal.SIGKILL)
    except ProcessLookupError:
        pass
    finally:
        os.close(fd)


def _read_record(pidfile: Path) -> tuple[int, str | None] | None:
    """(PID, start time) from a record; the time is None in a daemon's own pidfile."""
    try:
        fields = pidfile.read_text().split()
        return int(fields[0]), fields[1] if len(fields) > 1 else None
    except (OSError, ValueError, IndexError):
        return None


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]  # after the command name, which may hold ')'
    except (OSError, IndexError):
        return None


# -- the supervisor's side --------------------------------------------------------------
class Supervisor:
    def __init__(
        self, name: str, argv: list[str], log: Path, watch: Path, reload_on_hup: bool
    ) -> None:
        self.name, self.argv, self.log, self.watch = name, argv, log, watch
        self.reload_on_hup = reload_on_hup
        self.child: subprocess.Popen[bytes] | None = None
        self.stopping = False

    def say(self, text: str) -> None:
        with open(self.log, "a") as f:
            f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} supervisor: {text}\n")

    def on_term(self, _sig: int, _frame: object) -> None:
        self.stopping = True
        if self.child is not None and self.child.poll() is None:
            self.child.terminate()

    def on_hup(self, _sig: int, _frame: object) -> None:
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signal.SIGHUP)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.on_term)
        signal.signal(signal.SIGINT, self.on_term)
        if self.reload_on_hup:
            signal.signal(signal.SIGHUP, self.on_hup)
        backoff = BACKOFF_START
        while not self.stopping:
            if not self.watch.exists():
                self.say(f"{self.watch} is gone; exiting")
                return 0
            began = time.monotonic()
            with open(self.log, "ab") as out:
                self.child = subprocess.Popen(
                    self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out
                )
            self.say(f"{self.name} started, pid {self.child.pid}")
            code = self.child.wait()
            if self.stopping:
                break
            if time.monotonic() - began > STABLE_AFTER:
                backoff = BACKOFF_START
            self.say(f"{self.name} exited ({code}); starting it again in {backoff:g} s")
            end = time.monotonic() + backoff
            while time.monotonic() < end and not self.stopping:
                time.sleep(0.1)
            backoff = min(backoff * 2, BACKOFF_MAX)
        self.say("stopped")
        return 0


def _serve(args: argparse.Namespace) -> int:
    """In the detached process: record ourselves, supervise, then drop the record."""
    pidfile: Path = args.pidfile
    tmp = pidfile.with_name(pidfile.name + ".tmp")
    tmp.write_text(f"{os.getpid()} {_start_time(os.getpid()) or ''}".rstrip() + "\n")
    os.replace(tmp, pidfile)
    try:
        supervisor = Supervisor(args.name, args.argv, args.log, args.watch, args.reload_on_hup)
        return supervisor.run()
    finally:
        # Only our own record: a newer supervisor may have replaced it meanwhile.
        if (_read_record(pidfile) or (0, None))[0] == os.getpid():
            pidfile.unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}")
    parser.add_argument("--id", required=True, help="what the caller finds it by")
    parser.add_argument("--pidfile", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--name", required=True, help="the daemon, in the log")
    parser.add_argument("--watch", type=Path, required=True, help="exit once this is gone")
    parser.add_argument("--reload-on-hup", action="store_true")
    # Split by hand: the daemon's own argv may hold a "--" (qemu-nbd's does), which
    # argparse versions treat differently.
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    args.argv = argv[split + 1 :]
    if not args.argv:
        parser.error("no command to supervise after --")
    # Unexpected trouble after detaching (a traceback) lands in the log, not in /dev/null.
    out = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        detach(lambda: _serve(args), output=out)
    finally:
        os.close(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
