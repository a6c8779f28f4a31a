"""What the resize needs of ComputeService, as a Protocol: resize.py takes the service as
this, so that it never imports service.py, which imports it (no import cycle)."""

from __future__ import annotations

from typing import Protocol

from labcloud.db.models import Server
from labcloud.services.core import Devices, Hypervisor, ServiceContext


class ResizeHost(Protocol):
    ctx: ServiceContext

    def get(self, ref: str, sync: bool = True) -> Server: ...

    def hypervisor_on(self, node: str) -> Hypervisor: ...

    def shutdown_domain(self, server_id: str, timeout: float | None, node: str) -> None: ...

    def redefine(self, server_id: str) -> None: ...

    def devices(self, server: Server) -> Devices: ...

    def start_domain(self, server_id: str, node: str = "local") -> None: ...

    def settle(self, server_id: str, what: str) -> Server: ...
