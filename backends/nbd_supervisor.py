"""A tiny supervisor for one volume's qemu-nbd export (stdlib only, its own process).

    python -m labcloud.backends.nbd_supervisor NAME PATH FORMAT ADDRESS PORT DIR

It detaches (double fork), writes its PID to DIR/supervisor.pid and runs qemu-nbd in the
foreground: one export NAME of the file or device PATH, on ADDRESS:PORT only, persistent
(it outlives a client's disconnect). A qemu-nbd that dies is started again after a backoff
that doubles from 0.5 s up to 10 s; SIGTERM stops qemu-nbd and the supervisor. It also
exits when PATH is gone (the volume was deleted behind its back).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from labcloud.backends.dhcp_supervisor import _daemonize, _sleep_unless

BACKOFF_START, BACKOFF_MAX, STABLE_AFTER = 0.5, 10.0, 60.0


def qemu_nbd_argv(
    name: str, path: str, file_format: str, address: str, port: int, pidfile: Path
) -> list[str]:
    return [
        "qemu-nbd",
        "--persistent",
        f"--bind={address}",
        f"--port={port}",
        f"--export-name={name}",
        f"--format={file_format}",
        "--discard=unmap",
        f"--pid-file={pidfile}",
        "--",
        path,
    ]


class Supervisor:
    def __init__(self, argv: list[str], path: str, log: Path) -> None:
        self.argv, self.path, self.log = argv, path, log
        self.child: subprocess.Popen[bytes] | None = None
        self.stopping = False

    def say(self, text: str) -> None:
        with open(self.log, "a") as f:
            f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} supervisor: {text}\n")

    def on_term(self, _sig: int, _frame: object) -> None:
        self.stopping = True
        if self.child is not None and self.child.poll() is None:
            self.child.terminate()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.on_term)
        signal.signal(signal.SIGINT, self.on_term)
        backoff = BACKOFF_START
        while not self.stopping:
            if not os.path.exists(self.path):
                self.say(f"{self.path} is gone; exiting")
                return 0
            began = time.monotonic()
            with open(self.log, "ab") as out:
                self.child = subprocess.Popen(
                    self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out
                )
            self.say(f"qemu-nbd started, pid {self.child.pid}")
            code = self.child.wait()
            if self.stopping:
                break
            if time.monotonic() - began > STABLE_AFTER:
                backoff = BACKOFF_START
            self.say(f"qemu-nbd exited ({code}); starting it again in {backoff:g} s")
            _sleep_unless(lambda: self.stopping, backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)
        self.say("stopped")
        return 0


def main(argv: list[str]) -> int:
    name, path, file_format, address, port, directory = argv
    workdir = Path(directory)
    pidfile = workdir / "supervisor.pid"
    _daemonize(pidfile)
    nbd_argv = qemu_nbd_argv(name, path, file_format, address, int(port), workdir / "qemu-nbd.pid")
    try:
        return Supervisor(nbd_argv, path, workdir / "qemu-nbd.log").run()
    finally:
        # Only our own record: a newer supervisor may have replaced it meanwhile.
        try:
            if int(pidfile.read_text().split()[0]) == os.getpid():
                pidfile.unlink()
        except (OSError, ValueError, IndexError):
            pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
