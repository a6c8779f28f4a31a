"""The security group part of a server: its ports join its groups at create, and the
node's filter follows at provision and release."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from sqlmodel import Session, select

from labcloud.db.l3_models import PortSecurityGroup, SecurityGroup
from labcloud.db.models import Server
from labcloud.db.network_models import Port
from labcloud.services.core import CreateRequest, Devices, ServiceContext, find
from labcloud.services.l3.security_group_rules import DEFAULT, is_compute


class GroupHost(Protocol):
    """What the part needs of the security group service (which builds the part)."""

    ctx: ServiceContext

    def ensure_default(self, s: Session, project_id: str) -> SecurityGroup: ...

    def apply(
        self, exclude_device: str | None = None, moving: dict[str, str] | None = None
    ) -> None: ...


class SecurityGroupPart:
    """A server's ports join its security groups (default: the project's `default`)."""

    claims = frozenset({"security_groups"})

    def __init__(self, service: GroupHost) -> None:
        self.service = service
        # Run first on release (e.g. floating IPs let go of the server's ports).
        self.on_release: list[Callable[[str], None]] = []

    def validate(self, s: Session, request: CreateRequest, server: Server) -> None:
        for ref in request.security_groups:
            if ref != DEFAULT:
                find(s, SecurityGroup, ref, "security group", project_id=server.project_id)

    def allocate(self, s: Session, request: CreateRequest, server: Server) -> None:
        if request.security_groups:
            groups = [
                self.service.ensure_default(s, server.project_id)
                if ref == DEFAULT
                else find(s, SecurityGroup, ref, "security group", project_id=server.project_id)
                for ref in request.security_groups
            ]
        else:
            groups = [self.service.ensure_default(s, server.project_id)]
        s.flush()
        for port in s.exec(select(Port).where(Port.device_id == server.id)):
            if not is_compute(port):
                continue
            bound = s.exec(
                select(PortSecurityGroup).where(PortSecurityGroup.port_id == port.id)
            ).first()
            if bound is not None:  # a --port keeps the groups it has, as in Neutron
                continue
            for group in {g.id: g for g in groups}.values():
                s.add(PortSecurityGroup(port_id=port.id, security_group_id=group.id))

    def provision(self, server: Server, request: CreateRequest) -> None:
        # Before the domain starts: the tap is filtered from its first frame. A server
        # without ports adds nothing to the node's filter: no reload (an `nft` run) then.
        with self.service.ctx.store.read() as s:
            if s.exec(select(Port.id).where(Port.device_id == server.id)).first() is None:
                return
        self.service.apply()

    def devices(self, server: Server) -> Devices:
        return Devices()

    def release(self, server_id: str) -> None:
        for hook in self.on_release:
            hook(server_id)
        self.service.apply(exclude_device=server_id)
