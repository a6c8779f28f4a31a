"""The handles other services get from the node service: a node's hypervisor and host
agent, file staging and copying, filter loaders. A part of NodeService (service.py)."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlmodel import or_, select

from labcloud.db.models import Server
from labcloud.db.node_models import ComputeNode
from labcloud.services.core import Hypervisor, NodeAgent, ServiceContext, record_event
from labcloud.services.nodes.interfaces import NodeSpec, NodeTransport
from labcloud.services.nodes.models import LOCAL, NodeView, node_spec
from labcloud.services.nodes.scheduler import Candidate


class NodeHandles:
    if TYPE_CHECKING:
        # Given by NodeService (service.py), which this class is a part of.
        ctx: ServiceContext

        @property
        def transport(self) -> NodeTransport: ...

        def _row(self, name: str) -> ComputeNode: ...

        def list(self, refresh: bool = True) -> builtins.list[NodeView]: ...

    # -- handles for other services -----------------------------------------------------
    def hypervisor(self, name: str) -> Hypervisor:
        if name == LOCAL:
            return self.ctx.hypervisor
        return self.transport.hypervisor(node_spec(self._row(name)))

    def agent(self, name: str) -> NodeAgent:
        """The host agent for a server's files on a node: this process's own when the node
        shares the state_dir, else the same agent code running on the node over SSH."""
        if name == LOCAL:
            return self.ctx.agent
        row = self._row(name)
        if row.shared_storage:
            return self.ctx.agent
        return self.transport.agent(node_spec(row), str(self.ctx.state_dir))

    def stage(
        self, name: str, files: builtins.list[tuple[str, str]], report: Callable[[str], None]
    ) -> None:
        """Copy state_dir files (path, sha256) to a node that lacks them: first use only."""
        row = self._row(name)
        if row.shared_storage:
            return
        agent = self.transport.agent(node_spec(row), str(self.ctx.state_dir))
        for path, digest in files:

            def progress(done: int, total: int, what: str = Path(path).name[:12]) -> None:
                report(f"copying image {what} to {name}: {done * 100 // max(total, 1)}%")

            if agent.copy_file(path, path, digest, progress):
                with self.ctx.store.write() as s:
                    record_event(s, "node", name, name, f"image {digest[:12]} copied, verified")

    def filter_loaders(
        self, moving: dict[str, str] | None = None
    ) -> dict[str, Callable[[dict[str, object]], None]]:
        """Where security group rules are loaded besides the local node: every node that is
        up and holds servers, through the host agent running on it (shared storage or not).
        A node whose last server just went still gets its (now empty) ruleset."""
        with self.ctx.store.read() as s:
            used = select(Server.node).distinct()
            query = select(ComputeNode).where(
                ComputeNode.state == "up",
                or_(
                    ComputeNode.name.in_(used),  # type: ignore[attr-defined]
                    ComputeNode.name.in_(list((moving or {}).values())),  # type: ignore[attr-defined]
                ),
            )
            rows = list(s.exec(query))
        state_dir = str(self.ctx.state_dir)
        return {r.name: self.transport.agent(node_spec(r), state_dir).apply_filter for r in rows}

    def set_link_up(self, name: str, tap: str, up: bool) -> None:
        """A port's tap on the node its server runs on, through the host agent there."""
        agent = self.transport.agent(node_spec(self._row(name)), str(self.ctx.state_dir))
        agent.set_link_up(tap, up)

    def storage(self, name: str) -> str:
        """Where a node's instance files live: "shared" (the control's state_dir, seen by
        every node that shares it) or the node's own name (its private disk)."""
        if name == LOCAL or self._row(name).shared_storage:
            return "shared"
        return name

    def copy_files(
        self,
        source: str,
        dest: str,
        files: builtins.list[dict[str, object]],
        report: Callable[[str], None],
    ) -> None:
        """Copy files ({"path", "size", "sha256"}) from one node's storage to another's,
        each verified where it lands; the control relays between two private disks."""

        def spec(name: str) -> NodeSpec | None:
            return None if self.storage(name) == "shared" else node_spec(self._row(name))

        src, dst = spec(source), spec(dest)
        for f in files:
            path, size = str(f["path"]), int(f["size"])  # type: ignore[call-overload]
            what = Path(path).name

            def progress(done: int, total: int, what: str = what) -> None:
                report(f"copying {what} to {dest}: {done * 100 // max(total, 1)}%")

            self.transport.copy_file(src, dst, path, size, str(f["sha256"]), progress)

    def address(self, name: str) -> str:
        """Where other nodes reach this one (the migration stream goes there)."""
        return self._row(name).host

    def candidates(self) -> builtins.list[Candidate]:
        """Every node as the scheduler sees it, freshly probed."""
        return [view.candidate() for view in self.list(refresh=True)]
