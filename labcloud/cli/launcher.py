"""The `labcloud` console script. It hands the command to this user's warm fork server
(labcloud/cli/forkserver.py) and mirrors its exit status, or runs it in this process.

Standard library only: a cold Python start is about 20 ms, an import of labcloud's stack
about 400 ms, and the fork server pays the latter once. Anything unexpected on the way to
the server falls back to running here, so the server can only ever make a command faster.
Interactive commands (the TUI, `server ssh`, a live console) always run here: they need the
terminal's job control, which a forked child of another session cannot have.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys

from labcloud.cli import forkserver_protocol as proto
from labcloud.detached import spawn_module

# Run in this process, never in a fork server's child: the interactive ones, and `serve`,
# a long-lived threaded server that must own its process (its signals, its threads).
INTERACTIVE = (("tui",), ("server", "ssh"), ("console", "connect"), ("serve",))
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def _interactive(argv: list[str]) -> bool:
    # Command words only: `--lab FILE` and `-f json` carry values that are not words.
    values = {"-f", "--format", "-c", "--column", "--lab", "--project"}
    words = [
        w
        for i, w in enumerate(argv)
        if not w.startswith("-") and (i == 0 or argv[i - 1] not in values)
    ]
    if not words and sys.stdin.isatty() and sys.stdout.isatty():
        return True  # `labcloud` alone on a terminal opens the TUI
    return any(tuple(words[: len(p)]) == p for p in INTERACTIVE)


def main() -> None:
    argv = sys.argv[1:]
    if argv == ["--version"]:  # answered here: no server, no imports
        from labcloud import __version__

        print(f"labcloud {__version__}")
        return
    if not os.environ.get(proto.DISABLE_ENV) and not _interactive(argv):
        status = _via_server(argv)
        if status is not None:
            _mirror(status)
    from labcloud.cli.main import main as run_here

    sys.exit(run_here(argv))


def _via_server(argv: list[str]) -> int | None:
    """The command's wait status, or None when it must run here instead."""
    try:
        path = proto.socket_path()
    except OSError:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        if argv[:1] != ["daemon"]:  # `daemon stop` must not start the thing it stops
            _spawn_server(path)
        return None
    try:
        proto.send(
            sock,
            {
                "argv": argv,
                "env": dict(os.environ),
                "cwd": os.getcwd(),
                "umask": _umask(),
            },
            fds=[0, 1, 2],
        )
        reply, _ = proto.receive(sock)
        if reply is None or "pid" not in reply:
            if reply and reply.get("stale"):
                _spawn_server(path)
            return None
    except (OSError, ValueError):
        sock.close()
        return None
    return _wait(sock)


def _wait(sock: socket.socket) -> int:
    """From here on the command is running: forward signals, then take its status."""

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(OSError):
            proto.send(sock, {"signal": signum})

    for sig in FORWARDED:
        signal.signal(sig, forward)
    while True:
        try:
            reply, _ = proto.receive(sock)
        except InterruptedError:
            continue
        except (OSError, ValueError):
            reply = None
        if reply is None:
            # The server died under the command; nothing sensible to mirror.
            print("labcloud: the command's server went away", file=sys.stderr)
            return 1 << 8
        status = reply.get("status")
        if isinstance(status, int):
            return status


def _mirror(status: int) -> None:
    """Exit as the command did: the same code, or killed by the same signal."""
    sys.stdout.flush()
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        with contextlib.suppress(OSError, ValueError):  # SIGKILL has no handler to reset
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _spawn_server(path: os.PathLike[str]) -> None:
    """Start a detached server for the next command; this one runs here."""
    spawn_module("labcloud.cli.forkserver", str(path))


if __name__ == "__main__":
    main()
