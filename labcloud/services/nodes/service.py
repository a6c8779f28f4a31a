"""Nodes: the machines labcloud drives (Nova's compute services and hypervisors).

"local" is the machine labcloud runs on; other nodes are reached over SSH with a pinned
host key. Each node is probed with one round trip (all nodes at once), which gives its
state (up or down) and its totals; what servers use comes from the store, as Nova's
placement counts allocations rather than asking the hypervisor.
"""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from sqlalchemy import func
from sqlmodel import Session, col, select

from labcloud.config import NodeConfig
from labcloud.db.models import Server, utcnow
from labcloud.db.node_models import ComputeNode
from labcloud.errors import Conflict, LabError, NotFound, Untrusted, UsageError
from labcloud.names import check_name
from labcloud.services.core import ServiceContext, admin_only, record_event
from labcloud.services.nodes.handles import NodeHandles
from labcloud.services.nodes.interfaces import LocalProbe, NodeSpec, NodeTransport
from labcloud.services.nodes.models import (
    HOST_RE,
    LOCAL,
    USER_RE,
    NodeView,
    check_fingerprint,
    check_roles,
    fill_view,
    node_spec,
    older,
)


class NodeService(NodeHandles):
    def __init__(
        self,
        ctx: ServiceContext,
        transport: Callable[[], NodeTransport],
        local_probe: LocalProbe,
    ) -> None:
        self.ctx = ctx
        self._transport_factory = transport
        self._transport: NodeTransport | None = None
        self.local_probe = local_probe

    @property
    def transport(self) -> NodeTransport:
        if self._transport is None:
            self._transport = self._transport_factory()
        return self._transport

    # -- enrolment ----------------------------------------------------------------------
    @admin_only
    def add(
        self,
        name: str,
        host: str,
        *,
        port: int = 22,
        user: str = "root",
        key_file: str | None = None,
        roles: tuple[str, ...] = ("compute",),
        zone: str = "nova",
        libvirt_uri: str = "qemu:///system",
        trust_fingerprint: str | None = None,
        confirm: Callable[[str, str], bool] | None = None,
    ) -> NodeView:
        """Enrol a node: show its host key, pin it once confirmed, then log in and probe.

        `confirm(what, fingerprint)` asks the admin; without it, --trust-fingerprint is
        the only way to trust a key. Nothing is kept when any step fails.
        """
        self._check_new(name, host, port, user, key_file, zone)
        roles = check_roles(roles)
        if trust_fingerprint is not None:
            check_fingerprint(trust_fingerprint)
        with self.ctx.store.read() as s:
            if s.get(ComputeNode, name) is not None:
                raise Conflict(f"a node named {name!r} already exists")
        offered = self.transport.host_key(name, host, port)
        fp = offered["fingerprint"]
        where = f"{host}:{port}"
        if trust_fingerprint is not None and trust_fingerprint != fp:
            raise Untrusted(
                f"node {name} ({where}) offers host key {fp} ({offered['type']}), "
                f"not the {trust_fingerprint} you gave",
                "check on the node's console: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub;"
                " a different key means another machine or someone in between",
            )
        if trust_fingerprint is None and not (confirm and confirm(f"{name} ({where})", fp)):
            raise Untrusted(
                f"node {name} ({where}) offers host key {fp} ({offered['type']}); not trusted",
                f"check it on the node's console, then rerun with --trust-fingerprint {fp}",
            )
        self.transport.pin(name, host, port, fp)
        row = ComputeNode(
            name=name,
            host=host,
            port=port,
            user=user,
            key_file=key_file,
            roles=",".join(roles),
            availability_zone=zone,
            libvirt_uri=libvirt_uri,
            fingerprint=fp,
        )
        try:
            facts = self.transport.probe(node_spec(row), self._probe_request())
        except LabError:
            self.transport.unpin(host, port)
            self.transport.forget(name)
            raise
        self._apply_facts(row, facts)
        with self.ctx.store.write() as s:
            s.add(row)
            record_event(s, "node", name, name, f"enrolled, host key {fp}")
        return self.get(name, refresh=False)

    def _check_new(
        self, name: str, host: str, port: int, user: str, key_file: str | None, zone: str
    ) -> None:
        check_name(name, "node name")
        check_name(zone, "availability zone")
        if name == LOCAL:
            raise UsageError("the node name 'local' is the machine labcloud runs on")
        if not HOST_RE.fullmatch(host):
            raise UsageError(f"invalid host {host!r}", "give a host name or an IP address")
        if not 1 <= port <= 65535:
            raise UsageError(f"invalid port {port}", "1-65535")
        if not USER_RE.fullmatch(user):
            raise UsageError(f"invalid user name {user!r}")
        if key_file is not None and not Path(key_file).is_file():
            raise UsageError(f"SSH key {key_file} does not exist", "give a private key file")

    def seed(self, nodes: tuple[NodeConfig, ...]) -> int:
        """Enrol the [[nodes]] of lab.toml not enrolled yet; each needs its fingerprint."""
        added = 0
        for cfg in nodes:
            with self.ctx.store.read() as s:
                if s.get(ComputeNode, cfg.name) is not None:
                    continue
            if cfg.fingerprint is None:
                raise UsageError(
                    f"[[nodes]] {cfg.name} has no fingerprint",
                    'check it on the node\'s console and add fingerprint = "SHA256:..."',
                )
            self.add(
                cfg.name,
                cfg.host,
                port=cfg.port,
                user=cfg.user,
                key_file=str(cfg.key) if cfg.key else None,
                roles=cfg.roles,
                zone=cfg.availability_zone,
                libvirt_uri=cfg.libvirt_uri,
                trust_fingerprint=cfg.fingerprint,
            )
            added += 1
        return added

    # -- queries ------------------------------------------------------------------------
    def list(self, refresh: bool = True) -> list[NodeView]:
        """Every node, local first. With refresh, each is probed (all at once)."""
        query = select(ComputeNode).order_by(ComputeNode.name)
        with self.ctx.store.read() as s:
            rows = list(s.exec(query))
        if refresh and rows:
            self._refresh(rows)
        with self.ctx.store.read() as s:  # what the probes just recorded
            rows = list(s.exec(query))
            usage = self._usage(s)
        return [self._local_view(usage)] + [self._view(r, usage) for r in rows]

    def get(self, name: str, refresh: bool = True) -> NodeView:
        if name == LOCAL:
            with self.ctx.store.read() as s:
                return self._local_view(self._usage(s))
        row = self._row(name)
        if refresh:
            self._refresh([row])
            row = self._row(name)
        with self.ctx.store.read() as s:
            return self._view(row, self._usage(s))

    def _row(self, name: str) -> ComputeNode:
        with self.ctx.store.read() as s:
            row = s.get(ComputeNode, name)
        if row is None:
            raise NotFound(f"no node named {name!r}", "`labcloud node list` shows the nodes")
        return row

    def usage(self, s: Session) -> dict[str, tuple[int, int, int, int]]:
        return self._usage(s)

    def has_remote(self) -> bool:
        with self.ctx.store.read() as s:
            return s.exec(select(ComputeNode.name)).first() is not None

    def _usage(self, s: Session) -> dict[str, tuple[int, int, int, int]]:
        """node -> (servers, vCPU, RAM MiB, disk GiB) claimed by servers there."""
        # call-overload: sqlmodel types select() for up to four columns; it takes five.
        query = select(  # type: ignore[call-overload]
            Server.node,
            func.count(col(Server.id)),
            func.sum(Server.vcpus),
            func.sum(Server.ram),
            func.sum(Server.disk),
        ).group_by(Server.node)
        return {node: (n, v or 0, r or 0, d or 0) for node, n, v, r, d in s.exec(query)}

    def _local_view(self, usage: dict[str, tuple[int, int, int, int]]) -> NodeView:
        facts = self.local_probe(self._probe_request())
        cfg = self.ctx.config.local_node
        view = NodeView(LOCAL, "localhost", "up", "enabled", cfg.roles, cfg.availability_zone)
        fill_view(view, facts, usage)
        view.checked_at = utcnow()
        return view

    def _view(self, row: ComputeNode, usage: dict[str, tuple[int, int, int, int]]) -> NodeView:
        view = NodeView(
            row.name,
            f"{row.user}@{row.host}:{row.port}",
            row.state,
            "enabled" if row.enabled else "disabled",
            tuple(r for r in row.roles.split(",") if r),
            row.availability_zone,
            vcpus=row.vcpus,
            ram_mb=row.memory_mb,
            disk_gb=row.disk_gb,
            disk_free_gb=row.disk_free_gb,
            fingerprint=row.fingerprint,
            reason=row.state_reason if row.state == "down" else row.disabled_reason,
            checked_at=row.checked_at,
            shared_storage=row.shared_storage,
        )
        n, vcpus, ram, disk = usage.get(row.name, (0, 0, 0, 0))
        view.servers, view.vcpus_used, view.ram_used_mb, view.disk_used_gb = n, vcpus, ram, disk
        return view

    # -- probing ------------------------------------------------------------------------
    def _marker(self) -> Path:
        """A file only this lab's state_dir has: a node that sees it shares instance storage."""
        pointer = self.ctx.state_dir / "shared-marker"
        try:
            return self.ctx.state_dir / pointer.read_text().strip()
        except OSError:
            marker = self.ctx.state_dir / f".shared-{secrets.token_hex(8)}"
            marker.touch()
            pointer.write_text(marker.name)
            return marker

    def _probe_request(self) -> dict[str, object]:
        return {"disk_path": str(self.ctx.state_dir), "paths": [str(self._marker())]}

    def _refresh(self, rows: builtins.list[ComputeNode]) -> None:
        """Probe nodes in parallel (one round trip each) and record what was seen."""
        request = self._probe_request()
        since = utcnow()

        def one(row: ComputeNode) -> dict[str, object] | str:
            try:
                return self.transport.probe(node_spec(row), request)
            except LabError as exc:
                return exc.one_line()  # with what to check: shown by `node show`

        with ThreadPoolExecutor(max_workers=min(16, len(rows))) as pool:
            results = list(pool.map(one, rows))
        self.record(list(zip([r.name for r in rows], results, strict=True)), since)

    def record(
        self,
        results: builtins.list[tuple[str, dict[str, object] | str]],
        since: datetime | None = None,
    ) -> builtins.list[str]:
        """Record what probes (or the broker's heartbeat) saw: facts, or why a node is
        down. Returns the nodes whose state changed. A look that began (`since`) before
        the node's last recorded check is older news and is dropped: a heartbeat refused
        just before `node set --trust-fingerprint` must not mark the node down after it."""
        changed: list[str] = []
        with self.ctx.store.write() as s:
            for name, result in results:
                current = s.get(ComputeNode, name)
                if current is None or older(since, current.checked_at):
                    continue
                was = current.state
                if isinstance(result, str):
                    current.state, current.state_reason = "down", result
                else:
                    self._apply_facts(current, result)
                current.checked_at = current.updated_at = utcnow()
                if was != current.state:
                    changed.append(name)
                    why = f": {current.state_reason}" if current.state == "down" else ""
                    record_event(s, "node", name, name, f"{was} -> {current.state}{why}")
        return changed

    def watched(self) -> builtins.list[tuple[NodeSpec, str]]:
        """Every remote node's connection spec and recorded state (for the broker)."""
        with self.ctx.store.read() as s:
            rows = list(s.exec(select(ComputeNode).order_by(ComputeNode.name)))
        return [(node_spec(r), r.state) for r in rows]

    def probe_request(self) -> dict[str, object]:
        return self._probe_request()

    def server_ids(self, name: str) -> builtins.list[str]:
        with self.ctx.store.read() as s:
            return list(s.exec(select(Server.id).where(Server.node == name)))

    def _apply_facts(self, row: ComputeNode, facts: dict[str, object]) -> None:
        row.vcpus = int(facts.get("vcpus", 0))  # type: ignore[call-overload]
        row.memory_mb = int(facts.get("memory_mb", 0))  # type: ignore[call-overload]
        row.disk_gb = int(facts.get("disk_gb", 0))  # type: ignore[call-overload]
        row.disk_free_gb = int(facts.get("disk_free_gb", 0))  # type: ignore[call-overload]
        row.checked_at = utcnow()
        row.shared_storage = all(dict(facts.get("paths", {})).values())  # type: ignore[call-overload]
        if not facts.get("libvirt"):
            row.state, row.state_reason = "down", "libvirtd does not answer on the node"
        else:
            row.state, row.state_reason = "up", ""

    def mark_down(self, name: str, reason: str) -> None:
        """What compute saw: a node that stopped answering is down at once."""
        with self.ctx.store.write() as s:
            row = s.get(ComputeNode, name)
            if row is not None and row.state != "down":
                record_event(s, "node", name, name, f"{row.state} -> down: {reason}")
                row.state, row.state_reason = "down", reason
                row.checked_at = row.updated_at = utcnow()

    # -- changes ------------------------------------------------------------------------
    @admin_only
    def set(
        self,
        name: str,
        *,
        host: str | None = None,
        port: int | None = None,
        user: str | None = None,
        key_file: str | None = None,
        roles: tuple[str, ...] | None = None,
        zone: str | None = None,
        trust_fingerprint: str | None = None,
    ) -> NodeView:
        row = self._row(name)
        new_host, new_port = host or row.host, port or row.port
        self._check_new(
            "x" if name == LOCAL else name,
            new_host,
            new_port,
            user or row.user,
            key_file,
            zone or row.availability_zone,
        )
        moved = (new_host, new_port) != (row.host, row.port)
        if trust_fingerprint is not None:
            check_fingerprint(trust_fingerprint)
        if moved and trust_fingerprint is None:
            raise UsageError(
                "a new address needs its host key trusted too",
                "check it on the node and add --trust-fingerprint SHA256:...",
            )
        if trust_fingerprint is not None:
            offered = self.transport.host_key(name, new_host, new_port)["fingerprint"]
            if offered != trust_fingerprint:
                raise Untrusted(
                    f"node {name} ({new_host}:{new_port}) offers {offered}, "
                    f"not {trust_fingerprint}",
                    "check the key on the node's console before trusting it",
                )
            if moved:
                self.transport.unpin(row.host, row.port)
            self.transport.pin(name, new_host, new_port, trust_fingerprint)
            self.transport.forget(name)
        with self.ctx.store.write() as s:
            current = s.get(ComputeNode, name)
            assert current is not None
            current.host, current.port = new_host, new_port
            current.user = user or current.user
            current.key_file = key_file or current.key_file
            if roles is not None:
                current.roles = ",".join(check_roles(roles))
            current.availability_zone = zone or current.availability_zone
            if trust_fingerprint is not None:
                current.fingerprint = trust_fingerprint
                record_event(s, "node", name, name, f"host key now {trust_fingerprint}")
            current.updated_at = utcnow()
        return self.get(name)

    @admin_only
    def set_enabled(self, name: str, enabled: bool, reason: str = "") -> NodeView:
        if name == LOCAL:
            raise UsageError("the local node is always enabled; set its roles in lab.toml")
        with self.ctx.store.write() as s:
            row = s.get(ComputeNode, name)
            if row is None:
                raise NotFound(f"no node named {name!r}")
            row.enabled, row.disabled_reason = enabled, "" if enabled else reason
            row.updated_at = utcnow()
            record_event(s, "node", name, name, "enabled" if enabled else f"disabled {reason}")
        return self.get(name, refresh=False)

    @admin_only
    def remove(self, name: str) -> None:
        row = self._row(name)
        with self.ctx.store.write() as s:
            count = s.exec(select(func.count(col(Server.id))).where(Server.node == name)).one()
            if count:
                raise Conflict(
                    f"node {name} still has {count} server(s)",
                    "delete or migrate them first (`labcloud server list --node`)",
                )
            current = s.get(ComputeNode, name)
            if current is not None:
                s.delete(current)
            record_event(s, "node", name, name, "removed")
        self.transport.unpin(row.host, row.port)
        self.transport.forget(name)
