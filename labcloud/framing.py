"""How labcloud's local sockets frame a message: a 4-byte big-endian length, then that
many bytes of JSON, optionally with file descriptors (SCM_RIGHTS) on the first byte.

Shared by the node broker's socket (backends/broker_link.py) and the fork server's
(labcloud/cli/forkserver_protocol.py). Standard library only: the launcher imports it.
"""

from __future__ import annotations

import array
import json
import os
import socket
import struct
from collections.abc import Sequence

HEADER = struct.Struct("!I")
_FD_SIZE = array.array("i").itemsize


def send(sock: socket.socket, message: object, fds: Sequence[int] = ()) -> None:
    """One message; `fds` travel with its first byte."""
    body = json.dumps(message).encode()
    data = HEADER.pack(len(body)) + body
    if not fds:
        sock.sendall(data)
        return
    ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
    sent = sock.sendmsg([data], ancillary)
    if sent < len(data):
        sock.sendall(data[sent:])


def receive(sock: socket.socket, limit: int, max_fds: int = 0) -> tuple[object, list[int]] | None:
    """One message and the descriptors that came with it (up to max_fds, the caller's to
    close); None when the other end closes first, even mid-message. ValueError for a
    message over `limit` bytes or not JSON."""
    fds: list[int] = []
    try:
        message = _message(sock, limit, fds if max_fds else None, max_fds)
    except BaseException:
        close_all(fds)
        raise
    if message is None:
        close_all(fds)
        return None
    return message[0], fds


def _message(
    sock: socket.socket, limit: int, fds: list[int] | None, max_fds: int
) -> tuple[object] | None:
    head = _read(sock, HEADER.size, fds, max_fds)
    if head is None:
        return None
    (size,) = HEADER.unpack(head)
    if size > limit:
        raise ValueError("message too large")
    body = _read(sock, size)
    return None if body is None else (json.loads(body),)


def close_all(fds: list[int]) -> None:
    """Close received descriptors nobody will use."""
    for fd in fds:
        os.close(fd)


def _read(
    sock: socket.socket, size: int, fds: list[int] | None = None, max_fds: int = 0
) -> bytes | None:
    """Exactly `size` bytes, or None at end of stream; the descriptors, if wanted, arrive
    with the first chunk."""
    buf = bytearray()
    while len(buf) < size:
        if fds is not None and not buf:
            chunk, ancdata, _flags, _addr = sock.recvmsg(
                size - len(buf), socket.CMSG_SPACE(max_fds * _FD_SIZE)
            )
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    got = array.array("i")
                    got.frombytes(payload[: len(payload) - len(payload) % _FD_SIZE])
                    fds.extend(got)
        else:
            chunk = sock.recv(size - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)
