"""Routers (Neutron L3): a namespace per router, a leg per subnet, SNAT to the gateway.

A leg is a port of the subnet's network (device_owner network:router_interface) holding
the subnet's gateway address; the external gateway is a port on an external network
(network:router_gateway). Every change re-describes the whole router to the L3 agent,
which converges its namespace (backends/router_ns.py), so repair is the same call.
"""

from __future__ import annotations

import builtins
import contextlib
import ipaddress
from collections.abc import Callable
from typing import Any

from sqlmodel import Session, select

from labcloud.db.l3_models import FloatingIP, Router
from labcloud.db.models import utcnow
from labcloud.db.network_models import IPAllocation, Network, Port, Subnet
from labcloud.errors import Conflict, LabError, NotFound, UsageError
from labcloud.names import check_name, new_uuid
from labcloud.services.core import (
    Finding,
    Journal,
    L3Agent,
    OperationHandle,
    ServiceContext,
    charge,
    find,
    netnames,
    record_event,
    writes,
)
from labcloud.services.l3 import router_doctor, router_recovery
from labcloud.services.l3.router_queries import GATEWAY, INTERFACE, router_legs


class RouterService:
    noun = "router"

    def __init__(self, ctx: ServiceContext, network: Any, l3: Callable[[], L3Agent]) -> None:
        self.ctx = ctx
        self.network = network  # the NetworkService: ports come from there
        self._l3 = l3
        # Router changes are journalled; router_recovery.py finishes or undoes them.
        self.journal = Journal(ctx.store, ctx.state_dir / "locks")
        self.recovered_at_start: list[tuple[str, str, str]] = []

    @property
    def l3(self) -> L3Agent:
        return self._l3()

    def _find(self, s: Session, ref: str) -> Router:
        return find(s, Router, ref, "router", project_id=self.ctx.project.id)

    # -- queries --------------------------------------------------------------------
    def list(self) -> list[Router]:
        with self.ctx.store.read() as s:
            query = select(Router).where(self.ctx.scope(Router))
            return list(s.exec(query.order_by(Router.name)))

    def get(self, ref: str) -> Router:
        with self.ctx.store.read() as s:
            return self._find(s, ref)

    def interfaces(self, router_id: str) -> builtins.list[dict[str, str]]:
        """The router's legs: port, subnet, address (gateway first when set)."""
        with self.ctx.store.read() as s:
            return [
                {
                    "port_id": p.id,
                    "subnet_id": sub.id,
                    "subnet": sub.name,
                    "ip_address": ip,
                    "kind": "gateway" if p.device_owner == GATEWAY else "interface",
                }
                for p, sub, ip in router_legs(s, router_id, with_gateway=True)
            ]

    # -- create / delete ------------------------------------------------------------
    @writes
    def create(self, name: str) -> Router:
        check_name(name, "router name")
        router_id = new_uuid()
        project_id = self.ctx.project.id
        router = Router(
            id=router_id,
            name=name,
            status="ACTIVE",
            project_id=project_id,
            namespace=netnames.router_netns(router_id),
        )

        def allocate(s: Session) -> None:
            if s.exec(
                select(Router.id).where(Router.project_id == project_id, Router.name == name)
            ).first():
                raise Conflict(f"a router named {name!r} already exists")
            charge(self.ctx, s, project_id, routers=1)
            s.add(router)
            record_event(s, "router", router_id, name, "created")

        with self.journal.begin("router.create", router_id, allocate, name=name) as op:
            try:
                op.step("namespace")
                self.sync(router_id)
            except BaseException:
                self.forget(router_id)
                self.finish(op, "rolled_back")
                raise
            op.step("finish")
            self.finish(op)
        return router

    def finish(self, op: OperationHandle, state: str = "done") -> None:
        with self.ctx.store.write() as s:
            op.finish(s, state)

    def forget(self, router_id: str) -> None:
        with self.ctx.store.read() as s:
            row = s.get(Router, router_id)
            namespace = row.namespace if row else netnames.router_netns(router_id)
        self.l3.remove_router(namespace)
        with self.ctx.store.write() as s:
            row = s.get(Router, router_id)
            if row is not None:
                s.delete(row)

    @writes
    def delete(self, ref: str) -> Router:
        with self.ctx.store.read() as s:
            router = self._find(s, ref)
            attached = router_legs(s, router.id)
            fips = s.exec(select(FloatingIP.id).where(FloatingIP.router_id == router.id)).first()
        if attached:
            names = ", ".join(sub.name for _p, sub, _ip in attached)
            raise Conflict(
                f"router {router.name} still has interfaces on subnets {names}",
                f"remove them first: `labcloud router remove subnet {router.name} SUBNET`",
            )
        if fips:
            raise Conflict(
                f"router {router.name} still NATs floating IPs",
                "remove them from their servers first",
            )
        detail = {"name": router.name, "namespace": router.namespace}
        with self.journal.begin("router.delete", router.id, lambda s: None, **detail) as op:
            self.delete_steps(op, router.id, router.namespace)
        return router

    def delete_steps(self, op: OperationHandle, router_id: str, namespace: str) -> None:
        """A delete, by its own process or by recovery (each step may run again)."""
        op.step("gateway")
        with self.ctx.store.read() as s:
            row = s.get(Router, router_id)
            gateway = row.gateway_port_id if row else None
        if gateway:
            with contextlib.suppress(NotFound):
                self.network.delete_port(gateway, internal=True)
        op.step("namespace")
        self.l3.remove_router(namespace)
        op.step("finish")
        with self.ctx.store.write() as s:
            row = s.get(Router, router_id)
            if row is not None:
                s.delete(row)
                record_event(s, "router", row.id, row.name, "deleted")
            op.finish(s)

    # -- legs -----------------------------------------------------------------------
    @writes
    def add_subnet(self, router_ref: str, subnet_ref: str) -> Router:
        with self.ctx.store.read() as s:
            router = self._find(s, router_ref)
            subnet = self._subnet(s, subnet_ref)
            network = s.get(Network, subnet.network_id)
            assert network is not None
            if not subnet.gateway_ip:
                raise UsageError(
                    f"subnet {subnet.name} has no gateway IP",
                    "a router leg takes the subnet's gateway address; set one with "
                    "`--gateway` when creating the subnet",
                )
            if subnet.ip_version != 4:
                raise UsageError(f"subnet {subnet.name} is not IPv4; routers route IPv4 only")
            if network.external:
                raise UsageError(
                    f"subnet {subnet.name} is on external network {network.name}",
                    f"use `labcloud router set {router.name} --external-gateway {network.name}`",
                )
            for _p, other, _ip in router_legs(s, router.id, with_gateway=True):
                if other.id == subnet.id:
                    raise Conflict(f"router {router.name} already has a leg on {subnet.name}")
                if _overlap(other.cidr, subnet.cidr):
                    raise Conflict(
                        f"subnet {subnet.name} ({subnet.cidr}) overlaps {other.name} "
                        f"({other.cidr}) on router {router.name}"
                    )
            taken = s.exec(
                select(Port)
                .join(IPAllocation, IPAllocation.port_id == Port.id)  # type: ignore[arg-type]
                .where(
                    IPAllocation.subnet_id == subnet.id,
                    IPAllocation.ip_address == subnet.gateway_ip,
                )
            ).first()
            if taken is not None:
                raise Conflict(
                    f"the gateway {subnet.gateway_ip} of {subnet.name} is used by port {taken.id}"
                    + (f" ({taken.device_owner})" if taken.device_owner else "")
                )
        detail = {"name": router.name, "subnet_id": subnet.id, "subnet": subnet.name}
        with self.journal.begin("router.add_subnet", router.id, lambda s: None, **detail) as op:
            op.step("port")
            port = self._make_port(network, subnet, subnet.gateway_ip, INTERFACE, router.id, "qr")
            op.step("sync", port_id=port.id)
            try:
                self._sync_or_undo(router.id, port)
            except BaseException:
                self.finish(op, "rolled_back")
                raise
            op.step("finish")
            self._event(router, f"leg on {subnet.name} added")
            self.finish(op)
        return router

    def undo_leg(self, op: OperationHandle, router_id: str, subnet_id: str) -> None:
        """Roll back an add subnet that died before its port was made: any leg on the
        subnet is this operation's (add_subnet refuses a second one)."""
        with self.ctx.store.read() as s:
            legs = [p for p, sub, _ip in router_legs(s, router_id) if sub.id == subnet_id]
        for port in legs:
            self.network.delete_port(port.id, internal=True)
        with contextlib.suppress(NotFound):
            self.sync(router_id)
        self.finish(op, "rolled_back")

    @writes
    def remove_subnet(self, router_ref: str, subnet_ref: str) -> Router:
        with self.ctx.store.read() as s:
            router = self._find(s, router_ref)
            subnet = self._subnet(s, subnet_ref)
            legs = [p for p, sub, _ip in router_legs(s, router.id) if sub.id == subnet.id]
            if not legs:
                raise NotFound(f"router {router.name} has no leg on subnet {subnet.name}")
            in_use = s.exec(select(FloatingIP).where(FloatingIP.router_id == router.id)).all()
            for fip in in_use:
                if fip.fixed_ip_address and _in(fip.fixed_ip_address, subnet.cidr):
                    raise Conflict(
                        f"floating IP {fip.floating_ip_address} reaches {subnet.name} "
                        f"through router {router.name}",
                        "remove it from its server first",
                    )
        detail = {"name": router.name, "subnet_id": subnet.id, "subnet": subnet.name}
        with self.journal.begin("router.remove_subnet", router.id, lambda s: None, **detail) as op:
            op.step("ports")
            for port in legs:
                self.network.delete_port(port.id, internal=True)
            op.step("sync")
            self.sync(router.id)
            op.step("finish")
            self._event(router, f"leg on {subnet.name} removed")
            self.finish(op)
        return router

    def recover(self) -> builtins.list[tuple[str, str, str]]:

        return router_recovery.recover(self)

    @writes
    def set_gateway(self, router_ref: str, network_ref: str | None) -> Router:
        """Attach the router to an external network (or detach it, with None)."""
        with self.ctx.store.read() as s:
            router = self._find(s, router_ref)
            old_port = router.gateway_port_id
            network = subnet = None
            if network_ref is not None:
                network = self._network(s, network_ref)
                if not network.external:
                    raise UsageError(
                        f"network {network.name} is not external",
                        "create it with `--external`, or pick an external network",
                    )
                subnet = s.exec(
                    select(Subnet).where(Subnet.network_id == network.id, Subnet.ip_version == 4)
                ).first()
                if subnet is None:
                    raise Conflict(f"external network {network.name} has no IPv4 subnet")
            if (
                old_port
                and s.exec(select(FloatingIP.id).where(FloatingIP.router_id == router.id)).first()
            ):
                raise Conflict(
                    f"router {router.name} NATs floating IPs through its gateway",
                    "remove them from their servers first",
                )
        if network is not None and router.external_network_id == network.id:
            return router
        port = None
        if network is not None and subnet is not None:
            port = self._make_port(network, subnet, None, GATEWAY, router.id, "qg")
        with self.ctx.store.write() as s:
            row = s.get(Router, router.id)
            assert row is not None
            row.external_network_id = network.id if network else None
            row.gateway_port_id = port.id if port else None
            row.updated_at = utcnow()
        if old_port:
            self.network.delete_port(old_port, internal=True)
        try:
            self.sync(router.id)
        except BaseException:
            with self.ctx.store.write() as s:
                row = s.get(Router, router.id)
                if row is not None:
                    row.external_network_id, row.gateway_port_id = None, None
            if port is not None:
                self.network.delete_port(port.id, internal=True)
            raise
        what = f"gateway on {network.name}" if network else "gateway removed"
        self._event(router, what)
        return self.get(router.id)

    # -- helpers --------------------------------------------------------------------
    def _subnet(self, s: Session, ref: str) -> Subnet:
        return self.network.find_subnet(s, ref)

    def _network(self, s: Session, ref: str) -> Network:
        return self.network.find_network(s, ref)

    def _make_port(
        self,
        network: Network,
        subnet: Subnet,
        address: str | None,
        owner: str,
        device_id: str,
        kind: str,
    ) -> Port:
        fixed: dict[str, str] = {"subnet_id": subnet.id}
        if address:
            fixed["ip_address"] = address
        port = self.network.create_port(
            network.id, fixed_ips=[fixed], device_owner=owner, device_id=device_id
        )
        leg = netnames.router_leg(port.id) if kind == "qr" else netnames.gateway_leg(port.id)
        with self.ctx.store.write() as s:
            row = s.get(Port, port.id)
            if row is not None:
                row.tap = leg
                port = row
        return port

    def _sync_or_undo(self, router_id: str, port: Port) -> None:
        try:
            self.sync(router_id)
        except BaseException:
            self.network.delete_port(port.id, internal=True)
            with contextlib.suppress(LabError):
                self.sync(router_id)
            raise

    def _event(self, router: Router, message: str) -> None:
        with self.ctx.store.write() as s:
            record_event(s, "router", router.id, router.name, message)

    def spec(self, s: Session, router: Router) -> dict[str, object]:
        legs, cidrs = [], []
        for port, subnet, ip in router_legs(s, router.id):
            network = s.get(Network, port.network_id)
            assert network is not None
            prefix = ipaddress.ip_network(subnet.cidr).prefixlen
            legs.append(
                {
                    "name": netnames.router_leg(port.id),
                    "bridge": network.bridge,
                    "mac": port.mac_address,
                    "addresses": [f"{ip}/{prefix}"],
                    "mtu": network.mtu,
                }
            )
            cidrs.append(subnet.cidr)
        fips = list(s.exec(select(FloatingIP).where(FloatingIP.router_id == router.id)))
        gateway = None
        gw_port = s.get(Port, router.gateway_port_id) if router.gateway_port_id else None
        if gw_port is not None:
            network = s.get(Network, gw_port.network_id)
            assert network is not None
            alloc = s.exec(select(IPAllocation).where(IPAllocation.port_id == gw_port.id)).first()
            gw_subnet = s.get(Subnet, alloc.subnet_id) if alloc else None
            addresses = []
            if alloc and gw_subnet:
                addresses.append(
                    f"{alloc.ip_address}/{ipaddress.ip_network(gw_subnet.cidr).prefixlen}"
                )
            addresses += [f"{f.floating_ip_address}/32" for f in fips if f.fixed_ip_address]
            gateway = {
                "name": netnames.gateway_leg(gw_port.id),
                "bridge": network.bridge,
                "mac": gw_port.mac_address,
                "addresses": addresses,
                "gateway_ip": gw_subnet.gateway_ip if gw_subnet else None,
                "mtu": network.mtu,
            }
        return {
            "namespace": router.namespace,
            "legs": legs,
            "gateway": gateway,
            "snat": router.enable_snat,
            "internal_cidrs": cidrs,
            "floating_ips": [
                {"floating": f.floating_ip_address, "fixed": f.fixed_ip_address}
                for f in fips
                if f.fixed_ip_address
            ],
        }

    def sync(self, router_id: str) -> None:
        with self.ctx.store.read() as s:
            router = s.get(Router, router_id)
            if router is None:
                raise NotFound(f"no router {router_id}")
            spec = self.spec(s, router)
        self._ensure_bridges(router)
        self.l3.sync_router(spec)

    def _ensure_bridges(self, router: Router) -> None:
        """The bridges the legs plug into (the network service makes them idempotently)."""
        with self.ctx.store.read() as s:
            ids = {
                p.network_id
                for p in s.exec(select(Port).where(Port.device_id == router.id))
                if p.device_owner in (INTERFACE, GATEWAY)
            }
            networks = [n for n in (s.get(Network, i) for i in sorted(ids)) if n is not None]
        for net in networks:
            self.network.ensure_l2(net)

    def doctor_check(self, repair: bool) -> builtins.list[Finding]:
        """Routers whose namespace or NAT table is gone; repair rebuilds them from the store."""
        return router_doctor.check(self, repair)

    def describe(self, ref: str) -> dict[str, object]:
        router = self.get(ref)
        return self.l3.describe_router(router.namespace)


def _overlap(a: str, b: str) -> bool:
    return ipaddress.ip_network(a).overlaps(ipaddress.ip_network(b))


def _in(address: str, cidr: str) -> bool:
    return ipaddress.ip_address(address) in ipaddress.ip_network(cidr)
