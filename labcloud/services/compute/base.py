"""The state, node handles and queries every part of ComputeService shares (the
service is assembled from create.py, lifecycle.py and service.py)."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from labcloud.db.models import Image, Server
from labcloud.errors import LabError
from labcloud.services.compute.models import (
    Recovery,
)
from labcloud.services.core import (
    CreateRequest,
    DomainStateView,
    Hypervisor,
    Journal,
    NodeAgent,
    ServerPart,
    ServiceContext,
    find,
)


class ComputeBase:
    noun = "server"

    def __init__(
        self, ctx: ServiceContext, images_dir: Path, parts: list[ServerPart] | None = None
    ) -> None:
        self.ctx = ctx
        self.images_dir = images_dir
        # NICs, volumes and the cloud-init seed come from other services (core/server_parts.py).
        self.parts: list[ServerPart] = list(parts or [])
        self.journal = Journal(ctx.store, ctx.state_dir / "locks")
        self.recovered_at_start: list[Recovery] = []
        # Told when a node stops answering (the node service marks it down).
        self.node_down_listeners: list[Callable[[str, str], None]] = []

    if TYPE_CHECKING:
        # Implemented by the other parts of ComputeService (create.py, lifecycle.py,
        # service.py); declared here so that each part type-checks on its own.
        def start(self, ref: str, timeout: float = 60.0) -> Server: ...

        def start_domain(self, server_id: str, node: str = "local") -> None: ...

        def console_log(self, ref: str, lines: int = 0) -> str: ...

        def delete(self, ref: str) -> Server: ...

        def sync(
            self, server_ids: builtins.list[str] | None = None, event: str | None = None
        ) -> int: ...

    # -- nodes ----------------------------------------------------------------------
    def hypervisor_on(self, node: str) -> Hypervisor:
        return self.ctx.hypervisor_for(node)

    def _hv_of(self, server_id: str) -> Hypervisor:
        return self.hypervisor_on(self._node_of(server_id))

    def _agent(self, node: str) -> NodeAgent:
        return self.ctx.agent_for(node)

    def _agent_of(self, server_id: str) -> NodeAgent:
        return self._agent(self._node_of(server_id))

    def _node_of(self, server_id: str) -> str:
        with self.ctx.store.read() as s:
            row = s.get(Server, server_id)
        return row.node if row is not None else "local"

    def _stage_images(
        self,
        node: str,
        request: CreateRequest,
        image: Image,
        kernel: Image | None,
        ramdisk: Image | None,
        report: Callable[[str], None],
    ) -> None:
        """A node without the state_dir gets the images it boots from (checksum-verified,
        then cached there)."""
        wanted = [kernel, ramdisk] + ([] if request.boots_from_volume else [image])
        files = [(str(self.images_dir / i.checksum), i.checksum) for i in wanted if i]
        self.ctx.stage_for(node, files, report)

    def _node_states(self, nodes: set[str]) -> tuple[dict[str, DomainStateView], dict[str, str]]:
        """Every domain's state on these nodes, one round trip per node, all at once;
        and the nodes that did not answer, with why."""
        if nodes <= {"local"}:
            return dict(self.ctx.hypervisor.domain_states()), {}

        def one(node: str) -> dict[str, DomainStateView] | str:
            try:
                return dict(self.hypervisor_on(node).domain_states())
            except LabError as exc:
                if node == "local":
                    raise
                return f"node {node} is not answering: {exc.message}"

        states: dict[str, DomainStateView] = {}
        down: dict[str, str] = {}
        names = sorted(nodes)
        with ThreadPoolExecutor(max_workers=min(16, len(names))) as pool:
            for node, result in zip(names, pool.map(one, names), strict=True):
                if isinstance(result, str):
                    down[node] = result
                    for listener in self.node_down_listeners:
                        listener(node, result)
                else:
                    states.update(result)
        return states, down

    # -- paths ----------------------------------------------------------------------
    def instance_dir(self, server_id: str) -> Path:
        return self.ctx.state_dir / "instances" / server_id

    def console_path(self, server_id: str) -> Path:
        return self.instance_dir(server_id) / "console.log"

    # -- queries --------------------------------------------------------------------
    def list(self, sync: bool = True) -> list[Server]:
        if sync:
            self.sync()
        with self.ctx.store.read() as s:
            query = select(Server).where(self.ctx.scope(Server))
            return list(s.exec(query.order_by(col(Server.created_at), col(Server.name))))

    def get(self, ref: str, sync: bool = True) -> Server:
        with self.ctx.store.read() as s:
            server = self._find(s, ref)
        if sync:
            self.sync([server.id])
            with self.ctx.store.read() as s:
                server = s.get(Server, server.id) or server
        return server

    def _find(self, s: Session, ref: str) -> Server:
        return find(s, Server, ref, "server", project_id=self.ctx.project.id)
