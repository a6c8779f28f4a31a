"""The state and the lookups every part of NetworkService shares (the service is
assembled from networks.py, subnets.py, ports.py and dhcp.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, or_, select

from labcloud.db.network_models import Network, Port, Subnet
from labcloud.errors import LabError, NotFound
from labcloud.names import is_uuid
from labcloud.services.core import (
    Journal,
    ServiceContext,
)
from labcloud.services.network.common import (
    PortListener,
    TopologyContributor,
    find_in_scope,
)


class NetworkBase:
    noun = "network"

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.port_listeners: list[PortListener] = []
        self.topology_contributors: list[TopologyContributor] = []
        # (network_id, type, bridge) of a deleted network: its devices on other nodes go too.
        self.l2_removers: list[Callable[[str, str, str], None]] = []
        # (node, tap, up): a port's tap on another node (lab.py wires the node's agent).
        self.remote_link: Callable[[str, str, bool], None] | None = None
        # Creates and deletes are journalled like compute's (recovery.py).
        self.journal = Journal(ctx.store, ctx.state_dir / "locks")
        self.recovered_at_start: list[tuple[str, str, str]] = []

    if TYPE_CHECKING:
        # Implemented by the other parts of NetworkService (networks.py, subnets.py,
        # ports.py, dhcp.py); declared here so that each part type-checks on its own.
        def ensure_l2(self, net: Network) -> None: ...

        def sync_dhcp(self, network_id: str) -> None: ...

        @staticmethod
        def drop_port(s: Session, port: Port) -> None: ...

        def _new_port(
            self,
            s: Session,
            net: Network,
            *,
            device_owner: str,
            device_id: str,
            name: str | None,
            mac_address: str | None = None,
            project_id: str | None = None,
        ) -> Port: ...

        def _allocate_ip(
            self, s: Session, port: Port, sub: Subnet, address: str | None
        ) -> None: ...

    # -- finding --------------------------------------------------------------------
    def _visible(self, model: Any) -> Any:
        if self.ctx.all_projects:  # an admin's --all-projects: every project's
            return self.ctx.scope(model)
        pid = self.ctx.project.id
        if model is Network:
            return or_(Network.project_id == pid, Network.shared, Network.external)
        return model.project_id == pid

    def find_network(self, s: Session, ref: str) -> Network:
        return find_in_scope(s, Network, ref, "network", self._visible(Network))

    def find_subnet(self, s: Session, ref: str, network_id: str | None = None) -> Subnet:
        scope = or_(
            Subnet.project_id == self.ctx.project.id,
            Subnet.network_id.in_(  # type: ignore[attr-defined]
                select(Network.id).where(or_(Network.shared, Network.external))
            ),
        )
        if network_id is not None:
            scope = scope & (Subnet.network_id == network_id)
        return find_in_scope(s, Subnet, ref, "subnet", scope)

    def find_port(self, s: Session, ref: str) -> Port:
        if not is_uuid(ref):
            # Unnamed ports are listed by their ID prefix; accept any unique prefix too.
            rows = list(
                s.exec(
                    select(Port).where(
                        Port.project_id == self.ctx.project.id,
                        or_(Port.name == ref, col(Port.id).startswith(ref)),
                    )
                )
            )
            if len(rows) == 1:
                return rows[0]
        return find_in_scope(s, Port, ref, "port", self._visible(Port))

    def _converge(self, kind: str, allocate: Callable[[Session], Any]) -> Any:
        """Journalled: `allocate` changes the store (a subnet or port row, addresses) in the
        journal row's transaction; then the network's DHCP follows. Killed in between, the
        next start re-syncs DHCP from the store (recovery.py): rolled forward."""
        made: list[Any] = []
        with self.journal.begin(kind, "", lambda s: made.append(allocate(s))) as op:
            row = made[0]
            op.step("dhcp", network_id=row.network_id, id=row.id, name=row.name)
            try:
                self.sync_dhcp(row.network_id)
            except LabError:
                # The store is right and stays so; DHCP catches up at the next change or
                # `doctor --repair`, as before the journal.
                with self.ctx.store.write() as s:
                    op.finish(s)
                raise
            with self.ctx.store.write() as s:
                op.finish(s)
        return row

    def _own(self, s: Session, row: Any, what: str) -> Any:
        if row.project_id != self.ctx.project.id:
            raise NotFound(
                f"{what} {row.name} belongs to another project",
                "only its own project may change it",
            )
        return row
