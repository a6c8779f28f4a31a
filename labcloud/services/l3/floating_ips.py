"""Floating IPs (Neutron): an address of an external network, NATed to a server's port.

The address is held by a network:floatingip port on the external network (so no one else
gets it). Associated, it lives as a /32 on the gateway leg of the router that connects the
external network with the server's subnet, with DNAT in and SNAT out in that router's
namespace.

Create, delete, associate and disassociate are journalled; floating_ip_recovery.py
finishes or rolls back what a killed process left.
"""

from __future__ import annotations

import builtins
import contextlib
import ipaddress
from typing import Any

from sqlmodel import Session, select

from labcloud.db.l3_models import FloatingIP, Router
from labcloud.db.models import Server, utcnow
from labcloud.db.network_models import IPAllocation, Network, Port, Subnet
from labcloud.errors import Conflict, NotFound, UsageError
from labcloud.names import is_uuid, new_uuid
from labcloud.services.core import (
    Journal,
    OperationHandle,
    ServiceContext,
    charge,
    find,
    record_event,
    writes,
)
from labcloud.services.l3 import floating_ip_recovery
from labcloud.services.l3.router_queries import INTERFACE
from labcloud.services.l3.routers import RouterService

OWNER = "network:floatingip"


class FloatingIPService:
    noun = "floating IP"

    def __init__(self, ctx: ServiceContext, network: Any, routers: RouterService) -> None:
        self.ctx = ctx
        self.network = network
        self.routers = routers
        self.journal = Journal(ctx.store, ctx.state_dir / "locks")
        self.recovered_at_start: list[tuple[str, str, str]] = []

    def _find(self, s: Session, ref: str) -> FloatingIP:
        query = select(FloatingIP).where(FloatingIP.project_id == self.ctx.project.id)
        key = FloatingIP.id if is_uuid(ref) else FloatingIP.floating_ip_address
        row = s.exec(query.where(key == ref)).first()
        if row is None:
            raise NotFound(f"no floating IP {ref!r}", "`labcloud floating ip list` shows yours")
        return row

    def list(self) -> list[FloatingIP]:
        with self.ctx.store.read() as s:
            query = select(FloatingIP).where(self.ctx.scope(FloatingIP))
            return list(s.exec(query.order_by(FloatingIP.floating_ip_address)))

    def get(self, ref: str) -> FloatingIP:
        with self.ctx.store.read() as s:
            return self._find(s, ref)

    def network_names(self) -> dict[str, str]:
        with self.ctx.store.read() as s:
            return {n.id: n.name for n in s.exec(select(Network))}

    @writes
    def create(self, network_ref: str, address: str | None = None) -> FloatingIP:
        with self.ctx.store.read() as s:
            network = self.network.find_network(s, network_ref)
            if not network.external:
                raise UsageError(
                    f"network {network.name} is not external",
                    "floating IPs come from an external network (`network create --external`)",
                )
            subnets = list(
                s.exec(
                    select(Subnet).where(Subnet.network_id == network.id, Subnet.ip_version == 4)
                )
            )
            if not subnets:
                raise Conflict(f"external network {network.name} has no IPv4 subnet")
            subnet = subnets[0]
            if address is not None:
                try:
                    wanted = ipaddress.IPv4Address(address)
                except ValueError:
                    raise UsageError(
                        f"invalid --floating-ip-address {address!r}", "give an IPv4 address"
                    ) from None
                match = [x for x in subnets if wanted in ipaddress.ip_network(x.cidr)]
                if not match:
                    raise UsageError(
                        f"{address} is not in a subnet of network {network.name}",
                        ", ".join(x.cidr for x in subnets),
                    )
                subnet = match[0]
        fixed = {"subnet_id": subnet.id}
        if address is not None:
            fixed["ip_address"] = str(ipaddress.IPv4Address(address))
        fip_id = new_uuid()
        detail = {"name": network.name}
        with self.journal.begin("floating_ip.create", fip_id, lambda s: None, **detail) as op:
            op.step("port")
            port = self.network.create_port(
                network.id, fixed_ips=[fixed], device_owner=OWNER, device_id=fip_id
            )
            op.step("record", port_id=port.id)
            try:
                with self.ctx.store.write() as s:
                    q = select(IPAllocation).where(IPAllocation.port_id == port.id)
                    alloc = s.exec(q).first()
                    assert alloc is not None
                    charge(self.ctx, s, self.ctx.project.id, floating_ips=1)
                    fip = FloatingIP(
                        id=fip_id,
                        name=alloc.ip_address,
                        status="DOWN",
                        project_id=self.ctx.project.id,
                        floating_network_id=network.id,
                        floating_ip_address=alloc.ip_address,
                        floating_port_id=port.id,
                    )
                    s.add(fip)
                    record_event(s, "floating_ip", fip_id, fip.name, "created")
                    op.finish(s)  # the row and the end of the operation: one transaction
            except BaseException:
                self.undo_create(op, fip_id)
                raise
        return fip

    def undo_create(self, op: OperationHandle, fip_id: str) -> None:
        """A create that never wrote its row: its address-holding port goes."""
        with self.ctx.store.read() as s:
            ports = [p.id for p in s.exec(select(Port).where(Port.device_id == fip_id))]
        for port_id in ports:
            self.network.delete_port(port_id, internal=True)
        with self.ctx.store.write() as s:
            op.finish(s, "rolled_back")

    @writes
    def delete(self, ref: str) -> FloatingIP:
        with self.ctx.store.read() as s:
            fip = self._find(s, ref)
        with self.journal.begin("floating_ip.delete", fip.id, lambda s: None, name=fip.name) as op:
            self.delete_steps(op, fip.id)
        return fip

    def delete_steps(self, op: OperationHandle, fip_id: str) -> None:
        """A delete, by its own process or by recovery (each step may run again)."""
        with self.ctx.store.read() as s:
            fip = s.get(FloatingIP, fip_id)
        if fip is None:
            with self.ctx.store.write() as s:
                op.finish(s)
            return
        op.step("disassociate")
        if fip.router_id:
            self._disassociate(fip)
        op.step("port")
        with self.ctx.store.read() as s:
            port = s.get(Port, fip.floating_port_id)
        if port is not None:
            self.network.delete_port(port.id, internal=True)
        op.step("finish")
        with self.ctx.store.write() as s:
            row = s.get(FloatingIP, fip.id)
            if row is not None:
                s.delete(row)
            record_event(s, "floating_ip", fip.id, fip.name, "deleted")
            op.finish(s)

    @writes
    def associate(self, server_ref: str, ref: str, fixed_ip: str | None = None) -> FloatingIP:
        with self.ctx.store.read() as s:
            server = find(s, Server, server_ref, "server", project_id=self.ctx.project.id)
            fip = self._find(s, ref)
            if fip.port_id:
                raise Conflict(
                    f"floating IP {fip.floating_ip_address} is already in use",
                    "remove it from its server first",
                )
            port, address, subnet = self._fixed(s, server, fixed_ip)
            router = self._router_for(s, fip, subnet)

        def allocate(s: Session) -> None:
            row = s.get(FloatingIP, fip.id)
            if row is None or row.port_id:
                raise Conflict(f"floating IP {fip.floating_ip_address} changed meanwhile")
            row.port_id, row.fixed_ip_address, row.router_id = port.id, address, router.id
            row.status, row.updated_at = "ACTIVE", utcnow()
            record_event(s, "floating_ip", fip.id, fip.name, f"associated with {server.name}")

        # The row first; the router's NAT follows (recovery re-syncs it from the store).
        detail = {"name": fip.name, "router_id": router.id}
        with self.journal.begin("floating_ip.associate", fip.id, allocate, **detail) as op:
            op.step("sync")
            try:
                self.routers.sync(router.id)
            except BaseException:
                self._clear(fip.id)
                self.routers.sync(router.id)
                with self.ctx.store.write() as s:
                    op.finish(s, "rolled_back")
                raise
            with self.ctx.store.write() as s:
                op.finish(s)
        return self.get(fip.id)

    @writes
    def disassociate(self, server_ref: str, ref: str) -> FloatingIP:
        with self.ctx.store.read() as s:
            server = find(s, Server, server_ref, "server", project_id=self.ctx.project.id)
            fip = self._find(s, ref)
            port = s.get(Port, fip.port_id) if fip.port_id else None
            if port is None or port.device_id != server.id:
                raise Conflict(
                    f"floating IP {fip.floating_ip_address} is not on server {server.name}"
                )
        self._disassociate(fip)
        return self.get(fip.id)

    def release_server(self, server_id: str) -> None:
        """A deleted server's floating IPs stay allocated, but unbound (as in Neutron)."""
        with self.ctx.store.read() as s:
            ports = [p.id for p in s.exec(select(Port).where(Port.device_id == server_id))]
            fips = [f for f in s.exec(select(FloatingIP)) if f.port_id in ports]
        for fip in fips:
            self._disassociate(fip)

    def _disassociate(self, fip: FloatingIP) -> None:
        router_id = fip.router_id
        detail = {"name": fip.name, "router_id": router_id}
        with self.journal.begin(
            "floating_ip.disassociate", fip.id, lambda s: self._clear_in(s, fip.id), **detail
        ) as op:
            op.step("sync")
            if router_id:
                with contextlib.suppress(NotFound):  # the router may be gone meanwhile
                    self.routers.sync(router_id)
            with self.ctx.store.write() as s:
                op.finish(s)

    def recover(self) -> builtins.list[tuple[str, str, str]]:

        return floating_ip_recovery.recover(self)

    def _clear(self, fip_id: str) -> None:
        with self.ctx.store.write() as s:
            self._clear_in(s, fip_id)

    @staticmethod
    def _clear_in(s: Session, fip_id: str) -> None:
        row = s.get(FloatingIP, fip_id)
        if row is not None:
            row.port_id = row.fixed_ip_address = row.router_id = None
            row.status, row.updated_at = "DOWN", utcnow()

    @staticmethod
    def _fixed(s: Session, server: Server, fixed_ip: str | None) -> tuple[Port, str, Subnet]:
        for port in s.exec(select(Port).where(Port.device_id == server.id)):
            for alloc in s.exec(select(IPAllocation).where(IPAllocation.port_id == port.id)):
                if ":" in alloc.ip_address:
                    continue
                if fixed_ip is None or alloc.ip_address == fixed_ip:
                    subnet = s.get(Subnet, alloc.subnet_id)
                    assert subnet is not None
                    return port, alloc.ip_address, subnet
        if fixed_ip is not None:
            raise NotFound(f"server {server.name} has no fixed IP {fixed_ip}")
        raise Conflict(f"server {server.name} has no IPv4 address to NAT to")

    @staticmethod
    def _router_for(s: Session, fip: FloatingIP, subnet: Subnet) -> Router:
        leg_routers = {
            p.device_id
            for p in s.exec(
                select(Port)
                .join(IPAllocation, IPAllocation.port_id == Port.id)  # type: ignore[arg-type]
                .where(Port.device_owner == INTERFACE, IPAllocation.subnet_id == subnet.id)
            )
        }
        for router in s.exec(
            select(Router).where(Router.external_network_id == fip.floating_network_id)
        ):
            if router.id in leg_routers:
                return router
        raise Conflict(
            f"no router connects subnet {subnet.name} to the floating IP's network",
            "add the subnet to a router (`router add subnet`) whose gateway is that network",
        )
