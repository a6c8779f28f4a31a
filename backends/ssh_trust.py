"""labcloud's own known_hosts: the pinned SSH host key of every enrolled node.

OpenSSH's file format (paramiko reads and writes it), kept under state_dir, never the
user's ~/.ssh: labcloud trusts exactly the keys an admin confirmed at enrolment.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import threading
from pathlib import Path

import paramiko

from labcloud.errors import Unavailable, Untrusted

CONNECT_TIMEOUT = 3.0
_lock = threading.Lock()


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's SHA256 fingerprint, as `ssh-keygen -lf` prints it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def host_entry(host: str, port: int) -> str:
    """How known_hosts names a host: bare on port 22, [host]:port otherwise."""
    return host if port == 22 else f"[{host}]:{port}"


def open_socket(host: str, port: int, name: str) -> socket.socket:
    try:
        sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
    except OSError as exc:
        raise Unavailable(
            f"node {name} ({host}:{port}) does not answer: {exc.strerror or exc}",
            "is the node up, sshd running and the address right? `labcloud node show` "
            "tells when it last answered",
        ) from None
    # libvirt's RPCs are small request/reply messages: Nagle's algorithm would hold each
    # one back waiting for the peer's delayed ACK (tens of ms per call).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class KnownHosts:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> paramiko.HostKeys:
        keys = paramiko.HostKeys()
        if self.path.exists():
            keys.load(str(self.path))
        return keys

    def pinned(self, host: str, port: int) -> paramiko.PKey | None:
        found = self._load().lookup(host_entry(host, port))
        if not found:
            return None
        return next(iter(found.values()))

    def pin(self, host: str, port: int, key: paramiko.PKey) -> None:
        with _lock:
            keys = self._load()
            entry = host_entry(host, port)
            if entry in keys:
                del keys[entry]
            keys.add(entry, key.get_name(), key)
            self._save(keys)

    def unpin(self, host: str, port: int) -> None:
        with _lock:
            keys = self._load()
            entry = host_entry(host, port)
            if entry in keys:
                del keys[entry]
                self._save(keys)

    def _save(self, keys: paramiko.HostKeys) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(".tmp")
        keys.save(str(tmp))
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)

    def check(self, name: str, host: str, port: int, offered: paramiko.PKey) -> None:
        """Refuse a host key that is not the pinned one, saying what to check."""
        pinned = self.pinned(host, port)
        if pinned is None:
            raise Untrusted(
                f"no pinned host key for node {name} ({host_entry(host, port)}); it offered "
                f"{fingerprint(offered)}",
                "enrol it with `labcloud node add` after checking that fingerprint on the "
                "node's console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub)",
            )
        if pinned.asbytes() != offered.asbytes():
            raise Untrusted(
                f"host key of node {name} ({host_entry(host, port)}) changed: pinned "
                f"{fingerprint(pinned)}, offered {fingerprint(offered)} ({offered.get_name()})",
                "another machine may answer at that address, or someone is in between; if "
                "the node was reinstalled, check the new fingerprint on its console and run "
                f"`labcloud node set {name} --trust-fingerprint {fingerprint(offered)}`",
            )


def scan(name: str, host: str, port: int) -> paramiko.PKey:
    """The host key a node offers, without logging in (what enrolment shows)."""
    sock = open_socket(host, port, name)
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=CONNECT_TIMEOUT * 2)
        return transport.get_remote_server_key()
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise Unavailable(f"node {name} ({host}:{port}): SSH handshake failed: {exc}") from None
    finally:
        transport.close()
