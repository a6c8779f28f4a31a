"""A warm `labcloud`: a process that has already imported labcloud (SQLModel, SQLAlchemy,
pydantic, libvirt: about 0.4 s of every cold command) and forks one child per command.

The child gets the caller's stdin, stdout and stderr (passed over the socket), its
environment, working directory and umask, and runs the same `main()` a cold process would:
one code path. The server itself never opens the store or libvirt, and starts no thread,
so every fork starts clean (its warm-up only runs queries on a throw-away database in a
temporary directory, gone before the first fork). It exits when idle, or at once when
labcloud's own source files change, so a new checkout is never served by old code.

Run by the launcher as `python -m labcloud.cli.forkserver`; never by hand.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import io
import os
import selectors
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from labcloud.cli import forkserver_protocol as proto
from labcloud.detached import source_stamp, stale

# Imported once here so every forked command finds them ready: what `server create`,
# `list` and `delete` load, down to SQLAlchemy's SQLite dialect.
PRELOAD = (
    "labcloud.cli.main",
    "labcloud.cli.commands",
    "labcloud.lab",
    "labcloud.backends.libvirt_host",
    "labcloud.backends.host_agent",
    "labcloud.backends.domain_config",
    "labcloud.backends.l3_agent",
    "labcloud.services.network.part",
    "labcloud.services.volumes.part",
    "labcloud.services.volumes.attach",
    "labcloud.services.volumes.recovery",
    "sqlalchemy.dialects.sqlite.pysqlite",
    # paramiko and cryptography: ~0.5 s of imports for any command that reaches a node.
    "labcloud.backends.ssh_nodes",
    "labcloud.backends.brokered_nodes",
)


def _preload() -> None:
    for name in PRELOAD:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    with contextlib.suppress(Exception):
        from sqlalchemy.orm import configure_mappers

        configure_mappers()
    # Compiled SQL for the common commands, on a throw-away lab (labcloud/warmup.py).
    with contextlib.suppress(Exception):
        importlib.import_module("labcloud.warmup").warm()


class Server:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.selector = selectors.DefaultSelector()
        self.children: dict[int, socket.socket] = {}
        self.last_activity = time.monotonic()
        self.stamp: dict[str, int] = {}
        self.stopping = False

    def serve(self) -> None:
        lock = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # another server already serves this socket
        _preload()
        if threading.active_count() != 1:
            return  # forking with other threads alive is unsafe: let callers run cold
        self.stamp = source_stamp()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.path))
        os.chmod(self.path, 0o600)
        listener.listen(64)
        listener.setblocking(False)
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self._stop)
        self.selector.register(listener, selectors.EVENT_READ, "accept")
        self.selector.register(wake_r, selectors.EVENT_READ, "wake")
        try:
            self._loop(listener, wake_r)
        finally:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            listener.close()

    def _loop(self, listener: socket.socket, wake_r: int) -> None:
        while True:
            idle = time.monotonic() - self.last_activity
            if not self.children and (self.stopping or idle > proto.IDLE_SECONDS):
                return
            for key, _ in self.selector.select(timeout=5.0):
                if key.data == "accept":
                    if self.stopping:
                        continue  # the socket is gone; a caller still queued runs cold
                    with contextlib.suppress(BlockingIOError):
                        conn, _ = listener.accept()
                        if not self._request(conn, listener):
                            return
                elif key.data == "wake":
                    with contextlib.suppress(BlockingIOError):
                        os.read(wake_r, 512)
                else:
                    self._from_client(key.fileobj, key.data)  # type: ignore[arg-type]
            self._reap()

    def _stop(self, _signum: int, _frame: object) -> None:
        """SIGTERM (`labcloud daemon stop`): take no new command, finish the running ones."""
        self.stopping = True
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _request(self, conn: socket.socket, listener: socket.socket) -> bool:
        """Start one command. False when the server must stop (its code changed)."""
        self.last_activity = time.monotonic()
        conn.setblocking(True)
        conn.settimeout(5.0)
        try:
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
            peer_uid = int.from_bytes(creds[4:8], sys.byteorder)
            message, fds = proto.receive(conn, max_fds=3)
        except (OSError, ValueError):
            conn.close()
            return True
        if message is None or len(fds) != 3 or peer_uid != os.getuid():
            for fd in fds:
                os.close(fd)
            conn.close()
            return True
        if stale(self.stamp):
            for fd in fds:
                os.close(fd)
            with contextlib.suppress(OSError):
                proto.send(conn, {"stale": True})
            conn.close()
            return False
        pid = os.fork()
        if pid == 0:
            listener.close()
            self.selector.close()
            _run_child(message, fds, conn)  # never returns
        for fd in fds:
            os.close(fd)
        self.children[pid] = conn
        conn.settimeout(None)
        conn.setblocking(False)
        self.selector.register(conn, selectors.EVENT_READ, pid)
        with contextlib.suppress(OSError):
            proto.send(conn, {"pid": pid})
        return True

    def _from_client(self, conn: socket.socket, pid: int) -> None:
        """A client forwards the signals it gets (Ctrl-C) to its command's child."""
        try:
            conn.setblocking(True)
            conn.settimeout(1.0)
            message, _ = proto.receive(conn)
        except (OSError, ValueError):
            message = None
        finally:
            with contextlib.suppress(OSError):
                conn.setblocking(False)
        if message is None:
            # The client went away; the command finishes on its own, as if detached.
            self.selector.unregister(conn)
            return
        signum = message.get("signal")
        if isinstance(signum, int) and pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            self.last_activity = time.monotonic()
            if conn is None:
                continue
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(conn)
            with contextlib.suppress(OSError):
                conn.setblocking(True)
                conn.settimeout(1.0)
                proto.send(conn, {"status": status})
            conn.close()


def _run_child(message: dict[str, object], fds: list[int], conn: socket.socket) -> None:
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        conn.close()
        os.setpgid(0, 0)  # its own group: a signal for it never reaches the server
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        os.closerange(3, 1 << 16)  # other clients' sockets, the wake pipe, the passed fds
        sys.stdin = _stream(0, "r")
        sys.stdout = _stream(1, "w")
        sys.stderr = _stream(2, "w", errors="backslashreplace")
        env = message.get("env")
        if isinstance(env, dict):
            os.environ.clear()
            os.environ.update({str(k): str(v) for k, v in env.items()})
        os.chdir(str(message.get("cwd", "/")))
        umask = message.get("umask")
        if isinstance(umask, int):
            os.umask(umask)
        argv = [str(a) for a in message.get("argv", [])]  # type: ignore[attr-defined]  # the client sends a list
        sys.argv = ["labcloud", *argv]
        proto.served_by = os.getppid()
        from labcloud.cli.main import main

        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # a child must always exit here, never return to the loop
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os._exit(code)


def _stream(fd: int, mode: str, errors: str = "strict") -> io.TextIOWrapper:
    raw = io.FileIO(fd, mode, closefd=False)
    tty = os.isatty(fd)
    buffered: io.BufferedReader | io.BufferedWriter = (
        io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
    )
    return io.TextIOWrapper(buffered, encoding="utf-8", errors=errors, line_buffering=tty)


def main() -> None:
    os.umask(0o077)
    Server(Path(sys.argv[1])).serve()


if __name__ == "__main__":
    main()
