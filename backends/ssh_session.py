"""One SSH connection per node, reused for every exec and libvirt tunnel, with keepalive.

The host key is checked against labcloud's pinned key before anything is sent; a
transport that died (node rebooted, sshd killed) is replaced on the next use.
"""

from __future__ import annotations

import shlex
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paramiko
from labcloud.backends.ssh_trust import CONNECT_TIMEOUT, KnownHosts, open_socket

from labcloud.errors import BackendError, Timeout, Unavailable

KEEPALIVE = 2  # seconds between keepalives: a dead peer is noticed within a few seconds


@dataclass(frozen=True)
class SshTarget:
    name: str
    host: str
    port: int
    user: str
    key_file: str | None


class SshSession:
    def __init__(self, target: SshTarget, known_hosts: KnownHosts) -> None:
        self.target = target
        self.known_hosts = known_hosts
        self._transport: paramiko.Transport | None = None
        self._lock = threading.Lock()

    @property
    def transport(self) -> paramiko.Transport:
        with self._lock:
            if self._transport is None or not self._transport.is_active():
                self._transport = self._connect()
            return self._transport

    def _connect(self) -> paramiko.Transport:
        t = self.target
        sock = open_socket(t.host, t.port, t.name)
        transport = paramiko.Transport(sock)
        pinned = self.known_hosts.pinned(t.host, t.port)
        if pinned is not None:  # ask for the pinned key's type only
            transport.get_security_options().key_types = [pinned.get_name()]
        try:
            transport.start_client(timeout=CONNECT_TIMEOUT * 2)
            self.known_hosts.check(t.name, t.host, t.port, transport.get_remote_server_key())
            self._authenticate(transport)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            transport.close()
            raise Unavailable(f"node {t.name} ({t.host}:{t.port}): SSH failed: {exc}") from None
        except BaseException:
            transport.close()
            raise
        transport.set_keepalive(KEEPALIVE)
        return transport

    def _authenticate(self, transport: paramiko.Transport) -> None:
        t = self.target
        keys: list[paramiko.PKey] = []
        if t.key_file:
            try:
                keys.append(paramiko.PKey.from_path(Path(t.key_file)))
            except (OSError, paramiko.SSHException) as exc:
                raise BackendError(f"cannot read SSH key {t.key_file}: {exc}") from None
        else:
            keys.extend(paramiko.Agent().get_keys())
        for key in keys:
            try:
                transport.auth_publickey(t.user, key)
                return
            except paramiko.AuthenticationException:
                continue
        raise Unavailable(
            f"node {t.name} refused SSH login as {t.user}",
            "put labcloud's public key in the node's authorized_keys"
            + ("" if t.key_file else ", or load a key into ssh-agent"),
        )

    def exec(self, argv: list[str]) -> paramiko.Channel:
        """A new exec channel running argv (quoted for the remote shell) on the node."""
        try:
            channel = self.transport.open_session(timeout=CONNECT_TIMEOUT)
            channel.exec_command(shlex.join(argv))
        except paramiko.SSHException as exc:
            self.close()
            raise Unavailable(f"node {self.target.name}: SSH channel failed: {exc}") from None
        return channel

    def run(self, argv: list[str], stdin: bytes = b"", timeout: float = 30.0) -> bytes:
        """Run argv on the node: its stdout, or one-line error with its stderr."""
        channel = self.exec(argv)
        channel.settimeout(timeout)
        deadline = time.monotonic() + timeout
        try:
            if stdin:
                channel.sendall(stdin)
            channel.shutdown_write()
            out, err = bytearray(), bytearray()
            while not channel.exit_status_ready() or channel.recv_ready():
                if channel.recv_ready():
                    out += channel.recv(65536)
                elif channel.recv_stderr_ready():
                    err += channel.recv_stderr(65536)
                elif time.monotonic() > deadline:
                    raise Timeout(f"node {self.target.name}: {argv[0]} took over {timeout:g} s")
                else:
                    channel.status_event.wait(0.05)
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(65536)
            status = channel.recv_exit_status()
        except OSError as exc:  # socket.timeout included
            self.close()
            raise Unavailable(f"node {self.target.name} stopped answering: {exc}") from None
        finally:
            channel.close()
        if status != 0:
            msg = " ".join(err.decode(errors="replace").split())[:300]
            raise BackendError(f"node {self.target.name}: {argv[0]} failed: {msg or status}")
        return bytes(out)

    def close(self) -> None:
        with self._lock:
            if self._transport is not None:
                self._transport.close()
                self._transport = None
