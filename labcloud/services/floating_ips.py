"""Floating IPs (Neutron): an address of an external network, NATed to a server's port.

The address is held by a network:floatingip port on the external network (so no one else
gets it). Associated, it lives as a /32 on the gateway leg of the router that connects the
external network with the server's subnet, with DNAT in and SNAT out in that router's
namespace.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlmodel import Session, select

from labcloud.db.l3_models import FloatingIP, Router
from labcloud.db.models import Server, utcnow
from labcloud.db.network_models import IPAllocation, Network, Port, Subnet
from labcloud.errors import Conflict, NotFound, UsageError
from labcloud.names import is_uuid, new_uuid
from labcloud.services.access import writes
from labcloud.services.context import ServiceContext, find, record_event
from labcloud.services.quotas import charge
from labcloud.services.routers import INTERFACE, RouterService

OWNER = "network:floatingip"


class FloatingIPService:
    noun = "floating IP"

    def __init__(self, ctx: ServiceContext, network: Any, routers: RouterService) -> None:
        self.ctx = ctx
        self.network = network
        self.routers = routers

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
            network = self.routers._network(s, network_ref)
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
        port = self.network.create_port(
            network.id, fixed_ips=[fixed], device_owner=OWNER, device_id=fip_id
        )
        try:
            with self.ctx.store.write() as s:
                alloc = s.exec(select(IPAllocation).where(IPAllocation.port_id == port.id)).first()
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
        except BaseException:
            self.network.delete_port(port.id, internal=True)
            raise
        return fip

    @writes
    def delete(self, ref: str) -> FloatingIP:
        with self.ctx.store.read() as s:
            fip = self._find(s, ref)
        if fip.router_id:
            self._disassociate(fip)
        self.network.delete_port(fip.floating_port_id, internal=True)
        with self.ctx.store.write() as s:
            row = s.get(FloatingIP, fip.id)
            if row is not None:
                s.delete(row)
            record_event(s, "floating_ip", fip.id, fip.name, "deleted")
        return fip

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
        with self.ctx.store.write() as s:
            row = s.get(FloatingIP, fip.id)
            assert row is not None
            row.port_id, row.fixed_ip_address, row.router_id = port.id, address, router.id
            row.status, row.updated_at = "ACTIVE", utcnow()
            record_event(s, "floating_ip", fip.id, fip.name, f"associated with {server.name}")
        try:
            self.routers.sync(router.id)
        except BaseException:
            self._clear(fip.id)
            self.routers.sync(router.id)
            raise
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
        self._clear(fip.id)
        if router_id:
            self.routers.sync(router_id)

    def _clear(self, fip_id: str) -> None:
        with self.ctx.store.write() as s:
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
