"""What the `labcloud` launcher and its warm fork server share: where the socket lives and
how messages are framed (labcloud/framing.py, as the node broker's are). Standard library
only, so the launcher stays cheap to start.

One server per user, per Python environment and per (network, mount) namespace pair: a
server started inside a test node must never run a command for the host, or the reverse.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import sys
import tempfile
from pathlib import Path

from labcloud import framing

MAX_MESSAGE = 4 * 1024 * 1024
IDLE_SECONDS = 600.0
DISABLE_ENV = "LABCLOUD_NO_DAEMON"
RUNTIME_ENV = "LABCLOUD_RUNTIME_DIR"  # where the socket lives; tests use a private one

# Set in a command forked by the server: the server's PID (for `labcloud daemon`).
served_by: int | None = None


def _namespace_key() -> str:
    parts = [sys.prefix, sys.version]
    for ns in ("net", "mnt"):
        try:
            parts.append(str(os.stat(f"/proc/self/ns/{ns}").st_ino))
        except OSError:
            parts.append("-")
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def runtime_dir() -> Path:
    """A private directory of this user's, checked: ours, and no one else may write it."""
    uid = os.getuid()
    user_run = Path(f"/run/user/{uid}")
    if os.environ.get(RUNTIME_ENV):
        base = Path(os.environ[RUNTIME_ENV])
    elif user_run.is_dir():
        base = user_run
    elif uid == 0 and os.access("/run", os.W_OK):
        base = Path("/run")
    else:
        base = Path(tempfile.gettempdir())
    path = base / f"labcloud-{uid}"
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    st = path.lstat()
    if not path.is_dir() or path.is_symlink() or st.st_uid != uid or st.st_mode & 0o077:
        raise PermissionError(f"{path} is not a private directory of uid {uid}")
    return path


def socket_path() -> Path:
    return runtime_dir() / f"forkserver-{_namespace_key()}.sock"


def send(sock: socket.socket, message: dict[str, object], fds: list[int] | None = None) -> None:
    framing.send(sock, message, fds or ())


def receive(sock: socket.socket, max_fds: int = 0) -> tuple[dict[str, object] | None, list[int]]:
    """One message and the file descriptors that came with it; (None, []) at end of stream."""
    got = framing.receive(sock, MAX_MESSAGE, max_fds)
    if got is None:
        return None, []
    message, fds = got
    if not isinstance(message, dict):
        framing.close_all(fds)
        raise ValueError("not a message")
    return message, fds
