"""Subnets: address ranges on a network, and the DHCP port that serves them."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, or_, select

from labcloud.db.models import utcnow
from labcloud.db.network_models import IPAllocation, Network, Port, Subnet
from labcloud.errors import Conflict, UsageError
from labcloud.names import check_name, new_uuid
from labcloud.services.core import (
    charge,
    netnames,
    record_event,
    writes,
)
from labcloud.services.network import ipam
from labcloud.services.network.base import NetworkBase
from labcloud.services.network.common import (
    DHCP_OWNER,
    check_routes,
    port_label,
    served,
)


class SubnetOps(NetworkBase):
    # -- subnets --------------------------------------------------------------------
    def list_subnets(self, network: str | None = None) -> list[Subnet]:
        with self.ctx.store.read() as s:
            q = select(Subnet).where(
                or_(
                    self.ctx.scope(Subnet),
                    Subnet.network_id.in_(  # type: ignore[attr-defined]
                        select(Network.id).where(or_(Network.shared, Network.external))
                    ),
                )
            )
            if network is not None:
                q = q.where(Subnet.network_id == self.find_network(s, network).id)
            return list(s.exec(q.order_by(col(Subnet.created_at), col(Subnet.name))))

    def get_subnet(self, ref: str) -> Subnet:
        with self.ctx.store.read() as s:
            return self.find_subnet(s, ref)

    @writes
    def create_subnet(
        self,
        name: str,
        network: str,
        cidr: str,
        *,
        ip_version: int = 4,
        gateway: str | None = "auto",
        allocation_pools: list[dict[str, str]] | None = None,
        dns_nameservers: list[str] | None = None,
        host_routes: list[dict[str, str]] | None = None,
        enable_dhcp: bool = True,
        ipv6_ra_mode: str | None = None,
        ipv6_address_mode: str | None = None,
    ) -> Subnet:
        check_name(name, "subnet name")
        if ip_version not in (4, 6):
            raise UsageError(f"IP version {ip_version} is not 4 or 6")
        net_range = ipam.parse_cidr(cidr, ip_version)
        ipam.check_ipv6_modes(net_range, ipv6_ra_mode, ipv6_address_mode)
        gw: ipam.IPAddress | None
        if gateway == "auto":
            gw = ipam.host_range(net_range)[0]
        else:
            gw = ipam.check_gateway(net_range, gateway)
        pools = (
            ipam.check_pools(net_range, gw, allocation_pools)
            if allocation_pools
            else ipam.default_pools(net_range, gw)
        )
        dns = [str(ipam.parse_address(d, "DNS server")) for d in dns_nameservers or []]
        routes = check_routes(host_routes or [], net_range)
        try:

            def allocate(s: Session) -> Any:
                net = self.find_network(s, network)
                if net.project_id != self.ctx.project.id:
                    self._own(s, net, "network")
                others = s.exec(select(Subnet).where(Subnet.network_id == net.id)).all()
                if any(o.name == name for o in others):
                    raise Conflict(f"network {net.name} already has a subnet named {name!r}")
                ipam.check_overlap(net_range, [(o.name, o.cidr) for o in others])
                charge(self.ctx, s, net.project_id, subnets=1)
                sub = Subnet(
                    id=new_uuid(),
                    name=name,
                    status="ACTIVE",
                    project_id=net.project_id,
                    network_id=net.id,
                    cidr=str(net_range),
                    ip_version=ip_version,
                    gateway_ip=str(gw) if gw is not None else None,
                    allocation_pools=json.dumps([p.as_dict() for p in pools]),
                    dns_nameservers=json.dumps(dns),
                    host_routes=json.dumps(routes),
                    enable_dhcp=enable_dhcp,
                    ipv6_ra_mode=ipv6_ra_mode,
                    ipv6_address_mode=ipv6_address_mode,
                )
                s.add(sub)
                s.flush()
                if served(sub):
                    self._give_dhcp_address(s, net, sub)
                record_event(s, "subnet", sub.id, name, f"created {sub.cidr} on {net.name}")
                return sub

            sub = self._converge("subnet.create", allocate)
        except IntegrityError:
            raise Conflict(f"network {network} already has a subnet named {name!r}") from None
        return sub

    def _give_dhcp_address(self, s: Session, net: Network, sub: Subnet) -> None:
        """The network's DHCP port (made on first need) gets an address in `sub`."""
        port = s.exec(
            select(Port).where(Port.network_id == net.id, Port.device_owner == DHCP_OWNER)
        ).first()
        if port is None:
            port = self._new_port(
                s, net, device_owner=DHCP_OWNER, device_id=f"dhcp-{net.id}", name=None
            )
            port.tap = netnames.dhcp_veth_bridge(net.id)
            port.status = "ACTIVE"
            s.add(port)
            s.flush()
        self._allocate_ip(s, port, sub, None)

    @writes
    def set_subnet(
        self,
        ref: str,
        *,
        name: str | None = None,
        gateway: str | None = "keep",
        dns_nameservers: list[str] | None = None,
        host_routes: list[dict[str, str]] | None = None,
        enable_dhcp: bool | None = None,
    ) -> Subnet:
        """dns_nameservers and host_routes replace the lists when given."""
        if name is not None:
            check_name(name, "subnet name")

        def allocate(s: Session) -> Any:
            sub = self._own(s, self.find_subnet(s, ref), "subnet")
            net_range = ipam.parse_cidr(sub.cidr)
            if name is not None:
                sub.name = name
            if gateway != "keep":
                gw = ipam.check_gateway(net_range, gateway)
                if gw is not None and any(
                    gw in p for p in ipam.pools_from_json(json.loads(sub.allocation_pools))
                ):
                    raise UsageError(
                        f"gateway {gw} is inside an allocation pool of subnet {sub.name}"
                    )
                sub.gateway_ip = str(gw) if gw is not None else None
            if dns_nameservers is not None:
                sub.dns_nameservers = json.dumps(
                    [str(ipam.parse_address(d, "DNS server")) for d in dns_nameservers]
                )
            if host_routes is not None:
                sub.host_routes = json.dumps(check_routes(host_routes, net_range))
            if enable_dhcp is not None and enable_dhcp != sub.enable_dhcp:
                sub.enable_dhcp = enable_dhcp
                net = s.get(Network, sub.network_id)
                assert net is not None
                if served(sub):
                    self._give_dhcp_address(s, net, sub)
                elif not enable_dhcp:
                    self._take_dhcp_address(s, sub)
            sub.updated_at = utcnow()
            record_event(s, "subnet", sub.id, sub.name, "updated")
            return sub

        sub = self._converge("subnet.set", allocate)
        return sub

    def _take_dhcp_address(self, s: Session, sub: Subnet) -> None:
        for alloc in s.exec(
            select(IPAllocation)
            .join(Port, Port.id == IPAllocation.port_id)  # type: ignore[arg-type]
            .where(IPAllocation.subnet_id == sub.id, Port.device_owner == DHCP_OWNER)
        ):
            port_id = alloc.port_id
            s.delete(alloc)
            s.flush()
            if not s.exec(select(IPAllocation).where(IPAllocation.port_id == port_id)).first():
                port = s.get(Port, port_id)
                if port is not None:
                    s.delete(port)

    @writes
    def delete_subnet(self, ref: str) -> Subnet:
        def allocate(s: Session) -> Any:
            sub = self._own(s, self.find_subnet(s, ref), "subnet")
            used = s.exec(
                select(Port)
                .join(IPAllocation, IPAllocation.port_id == Port.id)  # type: ignore[arg-type]
                .where(IPAllocation.subnet_id == sub.id, Port.device_owner != DHCP_OWNER)
                .distinct()
            ).all()
            if used:
                what = ", ".join(port_label(p) for p in used[:3])
                raise Conflict(
                    f"subnet {sub.name} still has {len(used)} port(s) with addresses in it "
                    f"({what})",
                    "delete those ports or servers first",
                )
            self._take_dhcp_address(s, sub)
            s.flush()
            s.delete(sub)
            record_event(s, "subnet", sub.id, sub.name, "deleted")
            return sub

        sub = self._converge("subnet.delete", allocate)
        return sub
