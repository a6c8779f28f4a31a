"""Starting labcloud's long-lived helpers detached, and telling when their code is stale.

Every process labcloud leaves running goes through detach(): the fork server and the node
broker (spawn_module, started by the first command that wants one) and the supervisors of
dnsmasq and qemu-nbd (backends/supervisor.py). The first two exit once labcloud's own code
changes (source_stamp, stale), so a new checkout never answers with old code.

Standard library only and cheap to import: the launcher imports it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable


def detach(run: Callable[[], int | None], output: int | None = None) -> None:
    """Run `run` in a grandchild in a session of its own, reparented to init, with stdin on
    /dev/null and stdout and stderr on `output` (default /dev/null). The grandchild exits
    with run's return value and never comes back into the caller's code.

    The caller waits only for the short-lived intermediate child (so no zombie is left and
    no terminal, session or wait ties the helper to it); OSError when it cannot fork."""
    pid = os.fork()
    if pid:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        return
    code = 1
    try:
        os.setsid()
        if os.fork():
            os._exit(0)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        for fd in (1, 2):
            os.dup2(null if output is None else output, fd)
        for spare in (null, output):
            if spare is not None and spare > 2:
                os.close(spare)
        result = run()
        code = 0 if result is None else result
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        with contextlib.suppress(Exception):
            sys.excepthook(*sys.exc_info())  # to `output`: a supervisor's log
    finally:
        os._exit(code)


def spawn_module(module: str, *args: str) -> None:
    """Run `python -m module args` detached, with no file of ours left open; the caller goes
    on at once. A failure to fork is quiet: the helper is an optimisation."""

    def run() -> None:
        os.closerange(3, 1 << 16)
        os.execv(sys.executable, [sys.executable, "-m", module, *args])

    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        # A threaded caller (`labcloud serve`): a Python-level fork there can deadlock in the
        # child on a lock another thread held (the intermediate child's own fork runs
        # Python's at-fork handlers), and the caller would wait on it for good. subprocess
        # runs no Python between fork and exec; the fresh interpreter detaches as above.
        import subprocess

        with contextlib.suppress(OSError):
            subprocess.run(
                [sys.executable, "-c", _TRAMPOLINE, module, *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=30,
                check=False,
            )
        return
    with contextlib.suppress(OSError):
        detach(run)


# Run by a fresh, single-threaded interpreter: detach(), then exec the module.
_TRAMPOLINE = (
    "import sys\n"
    "from labcloud.detached import spawn_module\n"
    "spawn_module(sys.argv[1], *sys.argv[2:])\n"
)


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
