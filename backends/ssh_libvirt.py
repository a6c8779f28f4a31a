"""libvirt on a remote node, through the node's pinned SSH connection.

paramiko cannot open OpenSSH's direct-streamlocal channels (paramiko issue #544), so,
as libvirt's own ssh transport does with `nc -U`, each libvirt connection is an exec
channel running a tiny python3 relay to the node's libvirt socket. Locally, libvirt
connects to a private unix socket (qemu+unix://...?socket=) that feeds those channels.
Events flow back over the same stream; libvirt's keepalive notices a dead node.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import tempfile
import threading
from urllib.parse import parse_qs, urlsplit

import libvirt
from labcloud.backends.libvirt_host import Host
from labcloud.backends.ssh_session import SshSession

from labcloud.errors import BackendError, Unavailable

DEFAULT_SOCKET = "/run/libvirt/libvirt-sock"

# Runs on the node: stdin/stdout <-> libvirt's unix socket.
RELAY = """\
import os, select, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
route = {0: s.fileno(), s.fileno(): 1}
while True:
    for fd in select.select(list(route), [], [])[0]:
        data = os.read(fd, 65536)
        if not data:
            sys.exit(0)
        view = memoryview(data)
        while view:
            view = view[os.write(route[fd], view):]
"""


def node_socket(uri: str) -> str:
    """The libvirt socket on the node for a node-side URI (qemu:///system by default)."""
    parts = urlsplit(uri)
    if parts.scheme not in ("qemu", "qemu+unix") or parts.netloc:
        raise BackendError(f"node libvirt URI {uri!r} must be local to the node (qemu:///...)")
    return parse_qs(parts.query).get("socket", [DEFAULT_SOCKET])[0]


class Relay:
    """A private local unix socket; each connection to it becomes one exec channel."""

    def __init__(self, session: SshSession, remote_socket: str) -> None:
        self.session = session
        self.remote_socket = remote_socket
        self._dir = tempfile.mkdtemp(prefix="lc-libvirt-")  # 0700: only we can connect
        self.path = os.path.join(self._dir, "sock")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(4)
        threading.Thread(target=self._accept, name="lc-relay", daemon=True).start()
        atexit.register(self.close)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            try:
                channel = self.session.exec(["python3", "-c", RELAY, self.remote_socket])
            except Exception:
                conn.close()
                continue
            for src, dst in ((conn.recv, channel.sendall), (channel.recv, conn.sendall)):
                threading.Thread(target=_pump, args=(src, dst, conn, channel), daemon=True).start()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.close()
        shutil.rmtree(self._dir, ignore_errors=True)


def _pump(recv, send, conn, channel) -> None:  # type: ignore[no-untyped-def]
    try:
        while data := recv(65536):
            send(data)
    except OSError:
        pass
    finally:  # either side closing ends both
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_RDWR)
        channel.close()


class RemoteHost(Host):
    """The same Host (domains, events, devices), its connection tunnelled over SSH."""

    def __init__(self, node: str, session: SshSession, libvirt_uri: str) -> None:
        self.node = node
        self.session = session
        self._remote_socket = node_socket(libvirt_uri)
        self._relay: Relay | None = None
        super().__init__("qemu+unix:///system")

    @property
    def conn(self) -> libvirt.virConnect:
        if self._conn is not None:
            return self._conn
        _ = self.session.transport  # a down node or a changed host key fails here, fast
        if self._relay is None:
            self._relay = Relay(self.session, self._remote_socket)
            self.uri = f"qemu+unix:///system?socket={self._relay.path}"
        try:
            return super().conn
        except BackendError as exc:
            raise Unavailable(
                f"node {self.node}: libvirt does not answer ({exc.message})",
                f"is libvirtd running on {self.node}? `labcloud node show {self.node}`",
            ) from None

    def close(self) -> None:
        super().close()
        if self._relay is not None:
            self._relay.close()
            self._relay = None
