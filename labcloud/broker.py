"""The lab's node broker: one long-lived process per lab (per state_dir) that keeps one SSH
and one libvirt connection per remote node.

- It answers short-lived commands over a 0600 unix socket in the state_dir
  (backends/broker_link.py): each domain's state on a node (getAllDomainStats over the kept
  connection) and the node's probe, one local round trip each.
- It keeps a heartbeat per node, every HEARTBEAT seconds, over those connections: a node
  that stops answering is marked down in the store (its servers UNKNOWN) within seconds,
  without any command, and marked up again once it answers, reconnecting by itself.
- It listens to every node's libvirt lifecycle events: a domain changed behind labcloud's
  back shows in the store (hence in `server list` and the TUI, which watches the store).

Started on first need by a command (backends/brokered_nodes.py), detached; never by hand.
It exits when the lab has had no remote node for a while, or when labcloud's code changed.
Run as `python -m labcloud.broker LAB_FILE`.
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from labcloud.detached import source_stamp, stale
from labcloud.errors import LabError
from labcloud.lab import Lab

HEARTBEAT = 2.0  # seconds between checks of one node
ANSWER_WITHIN = 5.0  # a check still running after this: the node is down
FACTS_EVERY = 30.0  # capacity facts (a probe exec) refreshed this often while up
EVENT_SETTLE = 2.0  # let the command that acted record its own change first
IDLE_EXIT = 600.0  # no remote node for this long: exit


class Broker:
    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.nodes = lab.nodes
        self.transport = lab.nodes.transport
        self.state_dir = lab.config.site.state_dir
        self._lock = threading.Lock()
        self._threads: dict[str, threading.Thread] = {}
        self._busy_since: dict[str, float] = {}  # node -> when its current check began
        self._specs: dict[str, dict[str, object]] = {}
        self._hosts: dict[str, object] = {}  # node -> the Host our event listener is on
        self._facts_at: dict[str, float] = {}
        self._pending: dict[str, float] = {}  # server id -> when its event came
        self._stamp = source_stamp()
        self.stopping = False

    # -- requests from commands -------------------------------------------------------
    def handle(self, op: str, args: dict[str, object]) -> object:
        node = args.get("node")
        if op == "ping":
            return {"pid": os.getpid(), "nodes": sorted(self._threads)}
        if not isinstance(node, dict):
            raise LabError(f"node broker: bad request {op}")
        if op == "domain_states":
            states = self.transport.hypervisor(node).domain_states()
            return [
                {"uuid": d.uuid, "state": d.state, "reason": d.reason, "saved": d.saved}  # type: ignore[attr-defined]
                for d in states.values()
            ]
        if op == "probe":
            request = args.get("request")
            return self.transport.probe(node, request if isinstance(request, dict) else {})
        raise LabError(f"node broker: unknown request {op}")

    # -- heartbeat ----------------------------------------------------------------------
    def supervise(self) -> None:
        """Start a heartbeat per node, end those of removed nodes, catch hung checks."""
        idle_since = time.monotonic()
        while not self.stopping:
            watched = self.nodes.watched()
            names = {str(spec["name"]) for spec, _state in watched}
            with self._lock:
                self._specs = {str(spec["name"]): spec for spec, _state in watched}
            for name in names - set(self._threads):
                thread = threading.Thread(target=self._beat, args=(name,), daemon=True)
                self._threads[name] = thread
                thread.start()
            for name in set(self._threads) - names:  # removed: its beat ends, drop its links
                self._threads.pop(name)
                self._hosts.pop(name, None)
                self.transport.forget(name)
            now = time.monotonic()
            for name, since in list(self._busy_since.items()):
                if now - since > ANSWER_WITHIN:  # hung (a silent network): down, once
                    self._busy_since.pop(name, None)
                    # Closing its SSH session ends the hung call; the next beat redials.
                    self.transport.forget(name)
                    self._record(name, f"node {name} does not answer within {ANSWER_WITHIN:g} s")
            if names:
                idle_since = now
            elif now - idle_since > IDLE_EXIT:
                self.stopping = True
            if stale(self._stamp) or not self.state_dir.is_dir():
                self.stopping = True  # a new checkout: the next command starts a new broker
            self._settle_events()
            time.sleep(0.5)

    def _beat(self, name: str) -> None:
        while not self.stopping:
            with self._lock:
                spec = self._specs.get(name)
            if spec is None:
                return
            self._busy_since[name] = time.monotonic()
            began = datetime.now(UTC)
            try:
                result = self._check(name, spec)
            finally:
                self._busy_since.pop(name, None)
            if result is not None:
                self._record(name, result, began)
            time.sleep(HEARTBEAT)

    def _check(self, name: str, spec: dict[str, object]) -> dict[str, object] | str | None:
        """One round trip over the kept connections: facts when due, else None (still up);
        why not, when the node does not answer."""
        try:
            try:
                host = self.transport.hypervisor(spec)
                host.domain_states()
            except LabError:
                # A connection that died (node restarted): drop it and dial again, once.
                self.transport.forget(name)
                host = self.transport.hypervisor(spec)
                host.domain_states()
            if self._hosts.get(name) is not host:
                host.add_listener(self._on_event)
                self._hosts[name] = host
            down = self._state_of(name) != "up"
            if down or time.monotonic() - self._facts_at.get(name, 0.0) > FACTS_EVERY:
                facts = self.transport.probe(spec, self.nodes.probe_request())
                self._facts_at[name] = time.monotonic()
                return facts
            return None
        except LabError as exc:
            self._facts_at.pop(name, None)
            return exc.one_line()

    def _state_of(self, name: str) -> str:
        return next((st for spec, st in self.nodes.watched() if spec["name"] == name), "down")

    def _record(
        self, name: str, result: dict[str, object] | str, began: datetime | None = None
    ) -> None:
        try:
            changed = self.nodes.record([(name, result)], began)
            if changed:
                state = "down" if isinstance(result, str) else "up"
                _log(f"node {name} is {state}" + (f": {result}" if state == "down" else ""))
                ids = self.nodes.server_ids(name)
                if ids:  # its servers: UNKNOWN while it is down, their real state once up
                    self.lab.compute.sync(ids, event=f"node {name} {state}")
        except LabError as exc:
            _log(f"recording node {name}: {exc.one_line()}")

    # -- events -------------------------------------------------------------------------
    def _on_event(self, server_id: str, _state: str) -> None:
        with self._lock:
            self._pending.setdefault(server_id, time.monotonic())

    def _settle_events(self) -> None:
        now = time.monotonic()
        with self._lock:
            due = [sid for sid, at in self._pending.items() if now - at >= EVENT_SETTLE]
            for sid in due:
                del self._pending[sid]
        if due:
            try:
                self.lab.compute.sync(due)
            except LabError as exc:
                _log(f"syncing after events: {exc.one_line()}")


def _log(message: str) -> None:
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(f"{at} {message}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    from labcloud.backends.broker_link import SOCKET_NAME, Listener
    from labcloud.backends.brokered_nodes import DISABLE_ENV

    os.umask(0o077)
    os.environ[DISABLE_ENV] = "1"  # this process's own Lab connects to the nodes itself
    lab = Lab.open(argv[0] if argv else None)
    state_dir = lab.config.site.state_dir
    lock = os.open(state_dir / "broker.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another broker serves this lab
    log = os.open(state_dir / "broker.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 2)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    broker = Broker(lab)
    listener = Listener(Path(state_dir) / SOCKET_NAME, broker.handle)
    threading.Thread(target=listener.serve_forever, name="broker-socket", daemon=True).start()
    _log(f"node broker {os.getpid()} serving {state_dir}")
    try:
        broker.supervise()
    finally:
        listener.close()
        _log(f"node broker {os.getpid()} exits")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
