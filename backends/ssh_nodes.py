"""Every remote node this process talks to: one SSH session and one libvirt Host each.

Plain data in and out (see NodeTransport in services/nodes/interfaces.py).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

from labcloud.backends import node_l2, node_probe
from labcloud.backends.remote_agent import RemoteAgent
from labcloud.backends.ssh_libvirt import RemoteHost, node_socket
from labcloud.backends.ssh_session import SshSession, SshTarget
from labcloud.backends.ssh_trust import KnownHosts, fingerprint, scan

from labcloud.errors import BackendError, Untrusted

PROBE_SOURCE = Path(node_probe.__file__).read_text()
L2_SOURCE = Path(node_l2.__file__).read_text()
PROBE_TIMEOUT = 10.0


class SshNodes:
    def __init__(self, known_hosts: Path) -> None:
        self.known_hosts = KnownHosts(known_hosts)
        self._sessions: dict[str, SshSession] = {}
        self._hosts: dict[str, RemoteHost] = {}
        self._agents: dict[str, RemoteAgent] = {}
        self._lock = threading.Lock()

    # -- trust ------------------------------------------------------------------------
    def host_key(self, name: str, host: str, port: int) -> dict[str, str]:
        """The key a node offers: {"type", "key" (base64), "fingerprint"}."""
        key = scan(name, host, port)
        return {"type": key.get_name(), "key": key.get_base64(), "fingerprint": fingerprint(key)}

    def pin(self, name: str, host: str, port: int, expected: str) -> None:
        """Pin the key the node offers now, if it is the one the admin confirmed."""
        key = scan(name, host, port)
        if fingerprint(key) != expected:
            raise Untrusted(
                f"node {name} ({host}:{port}) now offers {fingerprint(key)}, not {expected}",
                "its key changed during enrolment: check the node before trusting it",
            )
        self.known_hosts.pin(host, port, key)

    def unpin(self, host: str, port: int) -> None:
        self.known_hosts.unpin(host, port)

    # -- sessions -----------------------------------------------------------------------
    def _session(self, node: dict[str, object]) -> SshSession:
        target = SshTarget(
            str(node["name"]),
            str(node["host"]),
            int(node["port"]),  # type: ignore[call-overload]
            str(node["user"]),
            str(node["key_file"]) if node.get("key_file") else None,
        )
        with self._lock:
            session = self._sessions.get(target.name)
            if session is None or session.target != target:
                if session is not None:
                    session.close()
                session = self._sessions[target.name] = SshSession(target, self.known_hosts)
            return session

    def probe(self, node: dict[str, object], request: dict[str, object]) -> dict[str, object]:
        """The node's facts (backends/node_probe.py run there): one exec, one round trip."""
        request = {**request, "libvirt_socket": node_socket(str(node["libvirt_uri"]))}
        out = self._session(node).run(
            ["python3", "-c", PROBE_SOURCE + "\n", json.dumps(request)], timeout=PROBE_TIMEOUT
        )
        try:
            return dict(json.loads(out))
        except ValueError:
            raise BackendError(f"node {node['name']}: the probe printed no JSON") from None

    def ensure_l2(self, node: dict[str, object], specs: list[dict[str, object]]) -> None:
        """Tenant networks' bridges and VXLAN devices on the node (backends/node_l2.py)."""
        self._l2(node, "ensure", specs)

    def remove_l2(self, node: dict[str, object], specs: list[dict[str, object]]) -> None:
        """A deleted network's bridge and VXLAN device off the node; absent ones are fine."""
        self._l2(node, "remove", specs)

    def _l2(self, node: dict[str, object], action: str, specs: list[dict[str, object]]) -> None:
        self._session(node).run(
            ["python3", "-c", L2_SOURCE + "\n", action, json.dumps(specs)], timeout=PROBE_TIMEOUT
        )

    def agent(self, node: dict[str, object], state_dir: str) -> RemoteAgent:
        """The host agent running on the node, over its SSH connection."""
        name = str(node["name"])
        session = self._session(node)
        with self._lock:
            agent = self._agents.get(name)
            if agent is None or agent.session is not session:
                agent = self._agents[name] = RemoteAgent(session, state_dir)
            return agent

    def hypervisor(self, node: dict[str, object]) -> RemoteHost:
        name = str(node["name"])
        session = self._session(node)
        with self._lock:
            host = self._hosts.get(name)
            if host is None or host.session is not session:
                host = self._hosts[name] = self._make_host(node, session)
            return host

    def _make_host(self, node: dict[str, object], session: SshSession) -> RemoteHost:
        return RemoteHost(str(node["name"]), session, str(node["libvirt_uri"]))

    def migrate(
        self,
        src: object,
        dst: object,
        uuid: str,
        dest_address: str,
        live: bool,
        copy_disks: list[str] | None = None,
    ) -> None:
        """Move a domain between two nodes' hypervisors (as handed out by hypervisor());
        copy_disks: the targets whose storage the stream carries too (no shared storage)."""
        from labcloud.backends.libvirt_host import Host
        from labcloud.backends.libvirt_migrate import migrate

        assert isinstance(src, Host) and isinstance(dst, Host)
        migrate(src, dst, uuid, dest_address, live, copy_disks)

    def copy_file(
        self,
        src: dict[str, object] | None,
        dst: dict[str, object] | None,
        path: str,
        size: int,
        sha256: str,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Copy a file to the same path on another node (None: this machine), verified."""
        from labcloud.backends import file_relay

        return file_relay.copy(
            None if src is None else self._session(src),
            None if dst is None else self._session(dst),
            path,
            size,
            sha256,
            progress,
        )

    def forget(self, name: str) -> None:
        """Drop a node's connections (after remove or a trust change)."""
        with self._lock:
            host = self._hosts.pop(name, None)
            self._agents.pop(name, None)
            session = self._sessions.pop(name, None)
        if host is not None:
            host.close()
        if session is not None:
            session.close()


def local_probe(request: dict[str, object]) -> dict[str, object]:
    return node_probe.probe(request)
