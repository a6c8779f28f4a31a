"""The node broker's local socket: one JSON request, one JSON reply, per connection
(framed by labcloud/framing.py, as the fork server's are).

The broker (labcloud/broker.py) is a long-lived process per lab that keeps one SSH and one
libvirt connection per node. Short-lived commands ask it over a unix socket under the
state_dir (mode 0600, same uid only) instead of paying an SSH handshake, an exec channel
and libvirt's handshake per node each time. Connections never cross a fork: a command
opens its own socket to the broker for each call.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from labcloud import errors, framing
from labcloud.errors import LabError

MAX_MESSAGE = 64 * 1024 * 1024
SOCKET_NAME = "broker.sock"
CALL_TIMEOUT = 30.0

Handler = Callable[[str, dict[str, object]], object]
_ERRORS: dict[str, type[LabError]] = {
    cls.code: cls
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, LabError)
}


class BrokerAbsent(Exception):
    """No broker answers on the socket: the caller connects to the node itself."""


def _receive(sock: socket.socket) -> object:
    got = framing.receive(sock, MAX_MESSAGE)
    if got is None:
        raise EOFError("the other end closed")
    return got[0]


def call(path: Path, op: str, args: dict[str, object], timeout: float = CALL_TIMEOUT) -> object:
    """Ask the broker; its LabError comes back as the same kind, here."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(str(path))
        except OSError as exc:  # no socket, or a stale one nobody listens on
            raise BrokerAbsent(str(exc)) from None
        try:
            framing.send(sock, {"op": op, "args": args})
            reply = _receive(sock)
        except (OSError, EOFError, ValueError) as exc:
            raise BrokerAbsent(f"the broker did not answer: {exc}") from None
    finally:
        sock.close()
    if not isinstance(reply, dict):
        raise BrokerAbsent("the broker sent nonsense")
    if "error" in reply:
        err = reply["error"]
        kind = _ERRORS.get(str(err.get("code")), LabError)
        raise kind(str(err.get("message")), err.get("hint"))
    return reply.get("result")


class Listener:
    """Serves requests on a 0600 unix socket, one thread per connection."""

    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = path
        self.handler = handler
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # never a moment with a wider mode
        try:
            self._sock.bind(str(path))
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        self._sock.listen(64)

    def serve_forever(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        try:
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
            if int.from_bytes(creds[4:8], sys.byteorder) != os.getuid():
                return
            conn.settimeout(CALL_TIMEOUT)
            request = _receive(conn)
            if not isinstance(request, dict):
                return
            args = request.get("args")
            args = args if isinstance(args, dict) else {}
            try:
                result = self.handler(str(request.get("op")), args)
                reply: dict[str, object] = {"result": result}
            except LabError as exc:
                reply = {"error": {"code": exc.code, "message": exc.message, "hint": exc.hint}}
            except Exception as exc:  # a broker bug must not kill the broker
                reply = {"error": {"code": "error", "message": f"node broker: {exc!r}"}}
            framing.send(conn, reply)
        except (OSError, EOFError, ValueError):
            pass
        finally:
            conn.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
