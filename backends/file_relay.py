"""Copy one file between two places: this machine's filesystem or a node's, over its SSH
connection. Node to node goes through this process (the nodes trust only labcloud).

The sender streams the first `size` bytes (a console log may grow meanwhile; what was
hashed is what is sent). The receiver hashes what arrives, writes it under a temporary
name and renames it into place only when the sha256 matches, so a broken copy leaves
nothing that looks whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator

from labcloud.backends.remote_agent import RECEIVE
from labcloud.backends.ssh_session import SshSession

from labcloud.errors import BackendError

_CHUNK = 1 << 20

# Runs on the source node. argv: path, size. stdout: the file's first `size` bytes.
SEND = """\
import sys
left = int(sys.argv[2])
out = sys.stdout.buffer
with open(sys.argv[1], "rb") as f:
    while left > 0:
        chunk = f.read(min(left, 1 << 20))
        if not chunk:
            sys.exit("the file is shorter than expected")
        out.write(chunk)
        left -= len(chunk)
out.flush()
"""

Progress = Callable[[int, int], None]


def read_local(path: str, size: int) -> Iterator[bytes]:
    left = size
    with open(path, "rb") as f:
        while left > 0:
            chunk = f.read(min(left, _CHUNK))
            if not chunk:
                raise BackendError(f"{path} is shorter than the {size} bytes expected")
            left -= len(chunk)
            yield chunk


def _read_remote(session: SshSession, path: str, size: int) -> Iterator[bytes]:
    channel = session.exec(["python3", "-c", SEND, path, str(size)])
    try:
        while chunk := channel.recv(_CHUNK):
            yield chunk
        if channel.recv_exit_status() != 0:
            err = channel.recv_stderr(4096).decode(errors="replace").strip()
            raise BackendError(f"node {session.target.name}: cannot read {path}: {err}")
    finally:
        channel.close()


def write_local(chunks: Iterator[bytes], dest: str, sha256: str, progress: Progress) -> int:
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=".copy-")
    digest, done = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                digest.update(chunk)
                f.write(chunk)
                done += len(chunk)
                progress(done, done)
            f.flush()
            os.fsync(f.fileno())
        if digest.hexdigest() != sha256:
            raise BackendError(f"copy of {dest} is corrupt: sha256 {digest.hexdigest()[:12]}")
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return done


def _write_remote(
    session: SshSession, chunks: Iterator[bytes], dest: str, sha256: str, progress: Progress
) -> int:
    channel = session.exec(["python3", "-c", RECEIVE, dest, sha256])
    done = 0
    try:
        for chunk in chunks:
            channel.sendall(chunk)
            done += len(chunk)
            progress(done, done)
        channel.shutdown_write()
        status = channel.recv_exit_status()
        err = channel.recv_stderr(4096).decode(errors="replace").strip()
    finally:
        channel.close()
    if status != 0:
        raise BackendError(f"node {session.target.name}: copy of {dest} failed: {err}")
    return done


def copy(
    src: SshSession | None,
    dst: SshSession | None,
    path: str,
    size: int,
    sha256: str,
    progress: Progress | None = None,
) -> int:
    """Copy `path` (same path on both sides) from src to dst; None is this machine.
    Returns the bytes copied; raises BackendError unless the copy is whole and verified."""
    report = progress or (lambda _done, _total: None)

    def counted(done: int, _: int) -> None:
        report(done, size)

    chunks = read_local(path, size) if src is None else _read_remote(src, path, size)
    if dst is None:
        return write_local(chunks, path, sha256, counted)
    return _write_remote(dst, chunks, path, sha256, counted)
