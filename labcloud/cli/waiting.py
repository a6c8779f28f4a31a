"""`--wait` and `--timeout` on every asynchronous action, added in one place.

labcloud's actions finish before the command returns (there is no message bus to poll),
so `--wait` is accepted everywhere the openstack client has it and shows progress where
the command has any. `--timeout` bounds the whole command: when it runs out the action is
interrupted like a Ctrl-C, its journal rolls it back (or the next command finishes it),
and the exit code is the timeout one. Commands that declare their own --timeout (passed
to a service) keep theirs.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from labcloud.cli.registry import Arg, Command, arg
from labcloud.errors import Timeout

ASYNCHRONOUS: frozenset[tuple[str, ...]] = frozenset(
    {
        ("server", "create"),
        ("server", "start"),
        ("server", "stop"),
        ("server", "reboot"),
        ("server", "suspend"),
        ("server", "resume"),
        ("server", "delete"),
        ("server", "resize"),
        ("server", "image", "create"),
        ("server", "add", "volume"),
        ("server", "remove", "volume"),
        ("image", "create"),
        ("volume", "create"),
        ("volume", "extend"),
        ("volume", "delete"),
        ("volume", "snapshot", "create"),
        ("volume", "snapshot", "delete"),
        ("stack", "apply"),
        ("stack", "destroy"),
    }
)
WAIT = arg("--wait", action="store_true", help="wait for the action to finish (it always does)")
TIMEOUT = arg(
    "--timeout", type=float, default=None, help="give up after this many seconds (exit code 9)"
)


def _has(cmd: Command, flag: str) -> bool:
    return any(flag in a.flags for a in cmd.args)


def extra_args(cmd: Command) -> list[Arg]:
    """The --wait/--timeout an asynchronous command lacks."""
    if cmd.words not in ASYNCHRONOUS:
        return []
    return [a for a in (WAIT, TIMEOUT) if not _has(cmd, a.flags[0])]


def owns_timeout(cmd: Command) -> bool:
    """True when main's deadline applies (the command did not declare --timeout itself)."""
    return cmd.words in ASYNCHRONOUS and not _has(cmd, "--timeout")


@contextmanager
def deadline(seconds: float | None, what: str) -> Iterator[None]:
    """Raise Timeout in the main thread when `seconds` have passed."""
    if not seconds:
        yield
        return

    def expired(_signum: int, _frame: FrameType | None) -> None:
        raise Timeout(
            f"{what} did not finish in {seconds:g} s",
            "raise --timeout; an interrupted action is rolled back or finished by the next one",
        )

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
