"""What labcloud's two long-lived helpers share: the fork server and the node broker.

Both are started detached by the first command that wants one, and both exit once
labcloud's own code changes, so a new checkout never answers with old code.
"""

from __future__ import annotations

import contextlib
import os
import sys


def spawn_module(module: str, *args: str) -> None:
    """Run `python -m module args` detached (own session, stdio on /dev/null); the caller
    goes on at once and only waits for the short-lived intermediate child."""
    try:
        pid = os.fork()
    except OSError:
        return
    if pid:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        return
    try:
        os.setsid()
        if os.fork():
            os._exit(0)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, 1 << 16)
        os.execv(sys.executable, [sys.executable, "-m", module, *args])
    finally:
        os._exit(1)


def source_stamp() -> dict[str, int]:
    """mtimes of every loaded labcloud module and its directory: an edit or a new file shows."""
    stamp: dict[str, int] = {}
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file or not (name == "labcloud" or name.startswith("labcloud.")):
            continue
        for path in (file, os.path.dirname(file)):
            try:
                stamp[path] = os.stat(path).st_mtime_ns
            except OSError:
                stamp[path] = -1
    return stamp


def stale(stamp: dict[str, int]) -> bool:
    """Whether any file or directory in the stamp changed since."""
    for path, mtime in stamp.items():
        try:
            if os.stat(path).st_mtime_ns != mtime:
                return True
        except OSError:
            return True
    return False
