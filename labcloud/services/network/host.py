"""What the network satellites (the server part, recovery, the doctor check, the topology)
need of NetworkService. They take the service as this Protocol, so that none of them
imports service.py, which imports them: the package has no import cycle."""

from __future__ import annotations

from typing import Protocol

from sqlmodel import Session

from labcloud.db.network_models import Network, Port
from labcloud.services.core import Journal, OperationHandle, ServiceContext
from labcloud.services.network.common import PortListener, TopologyContributor


class NetworkHost(Protocol):
    ctx: ServiceContext
    journal: Journal
    port_listeners: list[PortListener]
    topology_contributors: list[TopologyContributor]

    def find_network(self, s: Session, ref: str) -> Network: ...

    def find_port(self, s: Session, ref: str) -> Port: ...

    def allocate_port(
        self,
        s: Session,
        network: str,
        fixed_ips: list[dict[str, str]] | None = None,
        device_owner: str = "",
        device_id: str = "",
        *,
        name: str | None = None,
        mac_address: str | None = None,
        port_security_enabled: bool = True,
        project_id: str | None = None,
    ) -> Port: ...

    def apply_port_state(self, port: Port) -> None: ...

    def delete_port(self, ref: str, *, internal: bool = False) -> Port: ...

    @staticmethod
    def drop_port(s: Session, port: Port) -> None: ...

    def server_ports(self, server_id: str) -> list[Port]: ...

    def ensure_network(self, network_id: str) -> None: ...

    def ensure_l2_of(self, network_id: str) -> None: ...

    def sync_dhcp(self, network_id: str) -> None: ...

    def dhcp_spec(self, network_id: str) -> dict[str, object] | None: ...

    def finish_network_create(self, op: OperationHandle, network_id: str) -> Network: ...

    def undo_network_create(self, op: OperationHandle, network_id: str) -> None: ...

    def remove_network_devices(
        self, op: OperationHandle, network_id: str, kind: str, bridge: str
    ) -> None: ...
