"""What the L3 satellites (recovery, the doctor check) need of the router and floating
IP services. They take the service as one of these Protocols, so that no satellite
imports the service module that imports it: the package has no import cycle."""

from __future__ import annotations

from typing import Any, Protocol

from sqlmodel import Session

from labcloud.db.l3_models import Router
from labcloud.services.core import Journal, L3Agent, OperationHandle, ServiceContext


class RouterHost(Protocol):
    ctx: ServiceContext
    journal: Journal
    network: Any  # the NetworkService (ports come from there)

    @property
    def l3(self) -> L3Agent: ...

    def spec(self, s: Session, router: Router) -> dict[str, object]: ...

    def sync(self, router_id: str) -> None: ...

    def finish(self, op: OperationHandle, state: str = "done") -> None: ...

    def forget(self, router_id: str) -> None: ...

    def delete_steps(self, op: OperationHandle, router_id: str, namespace: str) -> None: ...

    def undo_leg(self, op: OperationHandle, router_id: str, subnet_id: str) -> None: ...


class FloatingIPHost(Protocol):
    ctx: ServiceContext
    journal: Journal

    @property
    def routers(self) -> RouterHost: ...

    def undo_create(self, op: OperationHandle, fip_id: str) -> None: ...

    def delete_steps(self, op: OperationHandle, fip_id: str) -> None: ...
