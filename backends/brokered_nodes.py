"""SshNodes that first ask the lab's node broker (labcloud/broker.py) for what it can answer.

The broker keeps each node's SSH and libvirt connections open, so the questions every
short-lived command asks (each domain's state, the node's facts) cost one local round
trip instead of a handshake per node. Anything else (starting a domain, a console, a
migration) still opens this process's own connection. With no broker answering, the
first call starts one for the next command and this one connects directly.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from labcloud.backends.broker_link import BrokerAbsent, call
from labcloud.backends.libvirt_host import DomainState
from labcloud.backends.ssh_libvirt import RemoteHost
from labcloud.backends.ssh_nodes import SshNodes
from labcloud.backends.ssh_session import SshSession

from labcloud.detached import spawn_module

DISABLE_ENV = "LABCLOUD_NO_BROKER"
BROKER_MODULE = "labcloud.broker"
RETRY_AFTER = 10.0  # a long-lived process (the TUI) asks again once a broker may be up


class BrokeredNodes(SshNodes):
    def __init__(self, known_hosts: Path, socket_path: Path, lab_file: Path | None) -> None:
        super().__init__(known_hosts)
        self.socket_path = socket_path
        self.lab_file = lab_file
        self._absent_until = 0.0
        self._spawned = False
        self._spawn_lock = threading.Lock()

    def ask(self, op: str, args: dict[str, object]) -> object:
        """The broker's answer; BrokerAbsent (a broker started for next time) when none."""
        if time.monotonic() < self._absent_until:
            raise BrokerAbsent("no broker")
        try:
            return call(self.socket_path, op, args)
        except BrokerAbsent:
            self._absent_until = time.monotonic() + RETRY_AFTER
            self._spawn()
            raise

    def _spawn(self) -> None:
        with self._spawn_lock:
            if self._spawned or self.lab_file is None:
                return
            self._spawned = True  # once per process: a broker that cannot start stays off
        spawn_broker(self.lab_file)

    def probe(self, node: dict[str, object], request: dict[str, object]) -> dict[str, object]:
        try:
            return dict(self.ask("probe", {"node": node, "request": request}))  # type: ignore[call-overload]
        except BrokerAbsent:
            return super().probe(node, request)

    def _make_host(self, node: dict[str, object], session: SshSession) -> RemoteHost:
        return BrokeredHost(node, session, self)


class BrokeredHost(RemoteHost):
    """A node's Host whose domain_states() comes from the broker while this process has
    no libvirt connection of its own to that node."""

    def __init__(self, node: dict[str, object], session: SshSession, nodes: BrokeredNodes) -> None:
        super().__init__(str(node["name"]), session, str(node["libvirt_uri"]))
        self._spec = dict(node)
        self._nodes = nodes

    def add_listener(self, listener: Callable[[str, str], None]) -> None:
        """A long-lived watcher (the TUI) listens on its own connection; it also makes sure
        the lab's broker runs, whose heartbeat marks nodes down in the store."""
        with contextlib.suppress(BrokerAbsent):
            self._nodes.ask("ping", {})
        super().add_listener(listener)

    def domain_states(self) -> dict[str, DomainState]:  # type: ignore[override]
        if self._conn is None:
            try:
                rows = self._nodes.ask("domain_states", {"node": self._spec})
            except BrokerAbsent:
                pass
            else:
                return {
                    str(r["uuid"]): DomainState(
                        str(r["uuid"]), str(r["state"]), int(r["reason"]), bool(r["saved"])
                    )
                    for r in rows  # type: ignore[union-attr]
                }
        return super().domain_states()


def spawn_broker(lab_file: Path) -> None:
    """Start the lab's broker, detached (its own session); it exits at once when another
    broker already serves this lab."""
    if os.environ.get(DISABLE_ENV):
        return
    spawn_module(BROKER_MODULE, str(lab_file))
