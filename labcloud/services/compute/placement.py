"""Where a server runs: the scheduler's choice, made as the server is allocated.

A ServerPart (core/server_parts.py) so compute needs no scheduler code of its own: the
nodes are probed before the write transaction (validate), the choice is made inside
it against the servers already placed (allocate), and the row says why (shown by
`server show`). Deleting the server drops the placement.
"""

from __future__ import annotations

from sqlmodel import Session

from labcloud.db.models import Server
from labcloud.db.node_models import ServerPlacement
from labcloud.services.core import CreateRequest, Devices
from labcloud.services.nodes import LOCAL, Candidate, Demand, NodeService, Ratios, plumb, schedule

# Volumes live on the storage node (local): a node reaches their files only when it shares
# local's storage. NICs reach other nodes over VXLAN only when [networks] local_ip says where
# the tunnels end.
VOLUMES = ("volumes", "boot_volume", "boot_volume_size")
NICS = ("networks", "ports", "nics")


class PlacementPart:
    claims = frozenset({"node", "availability_zone"})

    def __init__(self, nodes: NodeService) -> None:
        self.nodes = nodes
        self._probed: dict[str, list[Candidate]] = {}

    def validate(self, s: Session, request: CreateRequest, server: Server) -> None:
        if request.node:  # Nova's policy: only an admin picks the host
            self.nodes.ctx.access.require_admin("server create --node")
        if not self.nodes.has_remote():
            return  # one machine: today's path, nothing to probe
        views = self.nodes.list(refresh=True)
        candidates = [v.candidate() for v in views]
        requested = request.requested()
        if self.nodes.ctx.config.networks.local_ip is None:
            nics = [f for f in NICS if f in requested]
            if nics:
                why = "--" + nics[0].replace("_", "-") + " needs the local node for now"
                candidates = [c if c.name == LOCAL else _refuse(c, why) for c in candidates]
        vols = [f for f in VOLUMES if f in requested]
        if vols:
            why = "--" + vols[0].replace("_", "-") + " needs storage shared with node local"
            shared = {v.name for v in views if v.shared_storage}
            candidates = [c if c.name in shared else _refuse(c, why) for c in candidates]
        self._probed[server.id] = candidates
        self._choose(s, request, server, candidates, dry_run=True)

    def allocate(self, s: Session, request: CreateRequest, server: Server) -> None:
        candidates = self._probed.pop(server.id, None)
        if candidates is None:
            server.node = LOCAL
            s.add(ServerPlacement(server_id=server.id, node=LOCAL, reason="the only node"))
            return
        node, reason = self._choose(s, request, server, candidates, dry_run=False)
        server.node = node
        s.add(ServerPlacement(server_id=server.id, node=node, reason=reason))

    def _choose(
        self,
        s: Session,
        request: CreateRequest,
        server: Server,
        candidates: list[Candidate],
        dry_run: bool,
    ) -> tuple[str, str]:
        usage = self.nodes.usage(s)  # in allocate: inside the write transaction
        current = [_with_usage(c, usage.get(c.name)) for c in candidates]
        cfg = self.nodes.ctx.config.scheduler
        demand = Demand(
            server.vcpus, server.ram, server.disk, request.availability_zone, request.node
        )
        ratios = Ratios(
            cfg.cpu_allocation_ratio, cfg.ram_allocation_ratio, cfg.disk_allocation_ratio
        )
        return schedule(current, demand, cfg.policy, ratios)

    def provision(self, server: Server, request: CreateRequest) -> None:
        # The server's networks must reach its node before the domain is defined there.
        plumb(self.nodes, server.id, server.node)

    def devices(self, server: Server) -> Devices:
        return Devices()

    def release(self, server_id: str) -> None:
        with self.nodes.ctx.store.write() as s:
            row = s.get(ServerPlacement, server_id)
            if row is not None:
                s.delete(row)

    def reason(self, server_id: str) -> str:
        with self.nodes.ctx.store.read() as s:
            row = s.get(ServerPlacement, server_id)
        return row.reason if row is not None else ""


def _refuse(c: Candidate, why: str) -> Candidate:
    return Candidate(**{**c.__dict__, "why_not": c.why_not or why})


def _with_usage(c: Candidate, used: tuple[int, int, int, int] | None) -> Candidate:
    _n, vcpus, ram, disk = used or (0, 0, 0, 0)
    return Candidate(
        **{**c.__dict__, "vcpus_used": vcpus, "ram_used_mb": ram, "disk_used_gb": disk}
    )
