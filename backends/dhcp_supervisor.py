"""A tiny supervisor for one network's dnsmasq (stdlib only, runs as its own process).

    python -m labcloud.backends.dhcp_supervisor NETNS CONF PIDFILE LOG

It detaches (double fork), writes its PID to PIDFILE, and runs dnsmasq in the foreground
inside NETNS. When dnsmasq dies it is started again after a backoff that doubles from
0.5 s up to 10 s (and resets once dnsmasq has stayed up for a minute). SIGHUP is passed on
to dnsmasq (a reload); SIGTERM stops dnsmasq and the supervisor. It also exits when the
namespace is gone (the network was deleted behind its back).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

NETNS_DIR = Path("/run/netns")
BACKOFF_START, BACKOFF_MAX, STABLE_AFTER = 0.5, 10.0, 60.0


class Supervisor:
    def __init__(self, netns: str, conf: str, log: Path) -> None:
        self.netns = netns
        self.argv = ["ip", "netns", "exec", netns, "dnsmasq", "--keep-in-foreground"]
        self.argv.append(f"--conf-file={conf}")
        self.log = log
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
        signal.signal(signal.SIGHUP, self.on_hup)
        backoff = BACKOFF_START
        while not self.stopping:
            if not (NETNS_DIR / self.netns).exists():
                self.say(f"namespace {self.netns} is gone; exiting")
                return 0
            began = time.monotonic()
            with open(self.log, "ab") as out:
                self.child = subprocess.Popen(
                    self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out
                )
            self.say(f"dnsmasq started, pid {self.child.pid}")
            code = self.child.wait()
            if self.stopping:
                break
            if time.monotonic() - began > STABLE_AFTER:
                backoff = BACKOFF_START
            self.say(f"dnsmasq exited ({code}); starting it again in {backoff:g} s")
            _sleep_unless(lambda: self.stopping, backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)
        self.say("stopped")
        return 0


def _sleep_unless(stop: object, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not stop():  # type: ignore[operator]
        time.sleep(0.1)


def _daemonize(pidfile: Path) -> None:
    """Detach from the caller (who waits only for the first child) and record our PID."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    tmp = pidfile.with_name(pidfile.name + ".tmp")
    tmp.write_text(f"{os.getpid()}\n")
    os.replace(tmp, pidfile)


def main(argv: list[str]) -> int:
    netns, conf, pidfile, log = argv
    _daemonize(Path(pidfile))
    try:
        return Supervisor(netns, conf, Path(log)).run()
    finally:
        # Only our own record: a newer supervisor may have replaced it meanwhile.
        try:
            if int(Path(pidfile).read_text().split()[0]) == os.getpid():
                Path(pidfile).unlink()
        except (OSError, ValueError, IndexError):
            pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
