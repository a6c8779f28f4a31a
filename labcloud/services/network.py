"""Network (Neutron L2): networks, subnets, ports, IPAM and DHCP.

The store records networks and the addresses handed out; the node's agent makes the
bridges, VXLAN devices and DHCP namespaces. Every address is allocated inside a write
transaction (BEGIN IMMEDIATE) and guarded by the unique (subnet, address) constraint.

Routers, floating IPs and security groups (l3.py and friends) build on this: they create
ports with `create_port`/`allocate_port`, delete them with `delete_port`, and register a
`PortListener` to hear when a server's port is plugged or unplugged.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, or_, select

from labcloud.db.models import Server, utcnow
from labcloud.db.network_models import IPAllocation, Network, Port, Subnet
from labcloud.errors import BackendError, Conflict, LabError, NotFound, UsageError
from labcloud.names import check_name, is_uuid, new_uuid
from labcloud.services import ipam
from labcloud.services.core import (
    Journal,
    OperationHandle,
    ServiceContext,
    charge,
    netnames,
    record_event,
    writes,
)

if TYPE_CHECKING:
    from labcloud.services.network_part import NetworkPart

PROVIDER_TYPES = ("flat", "vlan", "vxlan")
VXLAN_OVERHEAD = 50  # outer Ethernet + IP + UDP + VXLAN headers
DHCP_OWNER = "network:dhcp"
COMPUTE_OWNER = "compute:nova"
MAC_PREFIX = "fa:16:3e"  # OpenStack's


class PortListener(Protocol):
    """Told when a server's port is plugged into or unplugged from a server."""

    def port_plugged(self, port_id: str) -> None: ...
    def port_unplugged(self, port_id: str) -> None: ...
    def port_updated(self, port_id: str) -> None: ...  # e.g. port security turned on or off


# (session, graph) -> None: adds routers, floating IPs, ... to `network topology`.
TopologyContributor = Callable[[Session, dict[str, Any]], None]


class NetworkService:
    noun = "network"

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.port_listeners: list[PortListener] = []
        self.topology_contributors: list[TopologyContributor] = []
        # (network_id, type, bridge) of a deleted network: its devices on other nodes go too.
        self.l2_removers: list[Callable[[str, str, str], None]] = []
        # (node, tap, up): a port's tap on another node (lab.py wires the node's agent).
        self.remote_link: Callable[[str, str, bool], None] | None = None
        # Creates and deletes are journalled like compute's (network_recovery.py).
        self.journal = Journal(ctx.store, ctx.state_dir / "locks")
        self.recovered_at_start: list[tuple[str, str, str]] = []

    @cached_property
    def server_part(self) -> NetworkPart:
        from labcloud.services.network_part import NetworkPart

        return NetworkPart(self)

    # -- finding --------------------------------------------------------------------
    def _visible(self, model: Any) -> Any:
        if self.ctx.all_projects:  # an admin's --all-projects: every project's
            return self.ctx.scope(model)
        pid = self.ctx.project.id
        if model is Network:
            return or_(Network.project_id == pid, Network.shared, Network.external)
        return model.project_id == pid

    def find_network(self, s: Session, ref: str) -> Network:
        return _find(s, Network, ref, "network", self._visible(Network))

    def find_subnet(self, s: Session, ref: str, network_id: str | None = None) -> Subnet:
        scope = or_(
            Subnet.project_id == self.ctx.project.id,
            Subnet.network_id.in_(  # type: ignore[attr-defined]
                select(Network.id).where(or_(Network.shared, Network.external))
            ),
        )
        if network_id is not None:
            scope = scope & (Subnet.network_id == network_id)
        return _find(s, Subnet, ref, "subnet", scope)

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
        return _find(s, Port, ref, "port", self._visible(Port))

    # -- networks -------------------------------------------------------------------
    def list_networks(self) -> list[Network]:
        with self.ctx.store.read() as s:
            q = select(Network).where(self._visible(Network))
            return list(s.exec(q.order_by(col(Network.created_at), col(Network.name))))

    def get_network(self, ref: str) -> Network:
        with self.ctx.store.read() as s:
            return self.find_network(s, ref)

    def subnets_of(self, network_id: str) -> list[Subnet]:
        with self.ctx.store.read() as s:
            q = select(Subnet).where(Subnet.network_id == network_id)
            return list(s.exec(q.order_by(col(Subnet.created_at))))

    @writes
    def create_network(
        self,
        name: str,
        *,
        provider_network_type: str | None = None,
        provider_segment: int | None = None,
        provider_physical_network: str | None = None,
        external: bool = False,
        shared: bool = False,
        mtu: int | None = None,
        admin_state_up: bool = True,
    ) -> Network:
        check_name(name, "network name")
        provider = provider_network_type or provider_segment or provider_physical_network
        if external or shared or provider:
            # Neutron's policy: provider attributes, external and shared are admin's.
            self.ctx.access.require_admin("a provider, external or shared network")
        kind = provider_network_type or "vxlan"
        physnet = provider_physical_network
        cfg = self.ctx.config.networks
        if kind not in PROVIDER_TYPES:
            raise UsageError(
                f"unknown provider network type {kind!r}", f"use one of {', '.join(PROVIDER_TYPES)}"
            )
        if kind == "vlan":
            # Probed first: no lab.toml change can make a vlan network work on this kernel.
            if not self.ctx.net.features().get("vlan"):
                raise BackendError(
                    "this kernel lacks 802.1Q VLAN support (CONFIG_VLAN_8021Q), so vlan "
                    "networks cannot be made here",
                    "use a flat or vxlan network",
                )
            if physnet is None or provider_segment is None:
                raise UsageError(
                    "a vlan network needs --provider-physical-network and --provider-segment"
                )
            if not 1 <= provider_segment <= 4094:
                raise UsageError(f"VLAN id {provider_segment} is not in 1-4094")
        if physnet is not None and physnet not in cfg.physical_networks:
            known = ", ".join(sorted(cfg.physical_networks)) or "none are configured"
            raise UsageError(
                f"physical network {physnet!r} is not in lab.toml ({known})",
                "add it to [networks] physical_networks",
            )
        if kind == "vxlan":
            if physnet is not None:
                raise UsageError("a vxlan network has no physical network")
            if provider_segment is not None and not 1 <= provider_segment <= 16777215:
                raise UsageError(f"VNI {provider_segment} is not in 1-16777215")
        elif kind == "flat" and provider_segment is not None:
            raise UsageError("a flat network has no segment")
        default_mtu = cfg.default_mtu - (VXLAN_OVERHEAD if kind == "vxlan" else 0)
        mtu = mtu if mtu is not None else default_mtu
        if not 68 <= mtu <= 9000:
            raise UsageError(f"MTU {mtu} is not in 68-9000")
        network_id = new_uuid()
        net = Network(
            id=network_id,
            name=name,
            status="BUILD",
            project_id=self.ctx.project.id,
            mtu=mtu,
            provider_network_type=kind,
            provider_segment=provider_segment,
            provider_physical_network=physnet,
            external=external,
            shared=shared,
            admin_state_up=admin_state_up,
            bridge=netnames.bridge(network_id),
        )

        def allocate(s: Session) -> None:
            self._check_free(s, net)
            charge(self.ctx, s, net.project_id, networks=1)
            if kind == "vxlan" and net.provider_segment is None:
                net.provider_segment = self._free_vni(s)
            s.add(net)
            record_event(s, "network", net.id, name, "created")

        try:
            with self.journal.begin("network.create", net.id, allocate, name=name) as op:
                try:
                    op.step("l2")
                    self.ensure_l2(net)
                    op.step("finish")
                    return self.finish_network_create(op, net.id)
                except BaseException:
                    self.undo_network_create(op, net.id)
                    raise
        except IntegrityError:
            raise Conflict(f"a network named {name!r} or its segment already exists") from None

    def finish_network_create(self, op: OperationHandle, network_id: str) -> Network:
        """The last step of a create, by its own process or by recovery."""
        with self.ctx.store.write() as s:
            row = s.get(Network, network_id)
            assert row is not None
            row.status = "ACTIVE" if row.admin_state_up else "DOWN"
            op.finish(s)
        return row

    def undo_network_create(self, op: OperationHandle, network_id: str) -> None:
        """Roll a create back: its devices, then its rows (nothing else can use it yet)."""
        with self.ctx.store.read() as s:
            net = s.get(Network, network_id)
        if net is not None:
            self._remove_l2(net)
        with self.ctx.store.write() as s:
            row = s.get(Network, network_id)
            if row is not None:
                self._drop_rows(s, row)
                record_event(s, "network", row.id, row.name, "create rolled back")
            op.finish(s, "rolled_back")

    def _check_free(self, s: Session, net: Network) -> None:
        same = s.exec(
            select(Network.id).where(Network.project_id == net.project_id, Network.name == net.name)
        ).first()
        if same:
            raise Conflict(f"a network named {net.name!r} already exists")
        if net.provider_segment is not None:
            used = s.exec(
                select(Network.name).where(
                    Network.provider_network_type == net.provider_network_type,
                    Network.provider_segment == net.provider_segment,
                )
            ).first()
            if used:
                raise Conflict(
                    f"{net.provider_network_type} segment {net.provider_segment} is used by "
                    f"network {used}"
                )
        if net.provider_network_type == "flat" and net.provider_physical_network:
            used = s.exec(
                select(Network.name).where(
                    Network.provider_network_type == "flat",
                    Network.provider_physical_network == net.provider_physical_network,
                )
            ).first()
            if used:
                raise Conflict(
                    f"physical network {net.provider_physical_network} already carries flat "
                    f"network {used}"
                )

    def _free_vni(self, s: Session) -> int:
        low, high = self.ctx.config.networks.vni_range
        used = set(
            s.exec(select(Network.provider_segment).where(Network.provider_network_type == "vxlan"))
        )
        for vni in range(low, high + 1):
            if vni not in used:
                return vni
        raise Conflict(
            f"every VNI in [networks] vni_range {low}-{high} is in use",
            "widen vni_range in lab.toml or delete a network",
        )

    def ensure_l2(self, net: Network) -> None:
        """The network's bridge and its uplink or VXLAN device (idempotent)."""
        agent, cfg = self.ctx.net, self.ctx.config.networks
        # A network set --disable keeps its bridge down: nothing on it forwards.
        agent.ensure_bridge(net.bridge, net.mtu, net.admin_state_up)
        iface = cfg.physical_networks.get(net.provider_physical_network or "")
        if net.provider_network_type == "vxlan":
            assert net.provider_segment is not None
            agent.ensure_vxlan(
                net.bridge,
                netnames.vxlan(net.id),
                net.provider_segment,
                cfg.local_ip,
                list(cfg.vxlan_peers),
                cfg.vxlan_port,
                net.mtu,
            )
        elif net.provider_network_type == "vlan" and iface:
            assert net.provider_segment is not None
            agent.ensure_vlan(
                net.bridge, netnames.vlan(net.id), iface, net.provider_segment, net.mtu
            )
        elif iface:
            agent.ensure_uplink(net.bridge, iface)

    def ensure_l2_of(self, network_id: str) -> None:
        with self.ctx.store.read() as s:
            net = s.get(Network, network_id)
        if net is not None:
            self.ensure_l2(net)

    def _remove_l2(self, net: Network) -> None:
        agent = self.ctx.net
        agent.remove_dhcp(netnames.dhcp_netns(net.id), netnames.dhcp_veth_bridge(net.id))
        if net.provider_network_type == "vxlan":
            agent.remove_link(netnames.vxlan(net.id))
        elif net.provider_network_type == "vlan":
            agent.remove_link(netnames.vlan(net.id))
        agent.remove_bridge(net.bridge)

    @writes
    def set_network(
        self,
        ref: str,
        *,
        name: str | None = None,
        shared: bool | None = None,
        external: bool | None = None,
        admin_state_up: bool | None = None,
    ) -> Network:
        if shared is not None or external is not None:
            self.ctx.access.require_admin("changing whether a network is shared or external")
        if name is not None:
            check_name(name, "network name")
        try:
            with self.ctx.store.write() as s:
                net = self._own(s, self.find_network(s, ref), "network")
                for key, value in (
                    ("name", name),
                    ("shared", shared),
                    ("external", external),
                    ("admin_state_up", admin_state_up),
                ):
                    if value is not None:
                        setattr(net, key, value)
                if admin_state_up is not None:
                    net.status = "ACTIVE" if admin_state_up else "DOWN"
                net.updated_at = utcnow()
                record_event(s, "network", net.id, net.name, "updated")
        except IntegrityError:
            raise Conflict(f"a network named {name!r} already exists") from None
        if admin_state_up is not None:
            self.ctx.net.set_link_up(net.bridge, admin_state_up)
        return net

    @writes
    def delete_network(self, ref: str) -> Network:
        with self.ctx.store.read() as s:
            net = self._own(s, self.find_network(s, ref), "network")

        def allocate(s: Session) -> None:
            row = s.get(Network, net.id)
            if row is None:
                raise NotFound(f"network {net.name} was deleted meanwhile")
            busy = s.exec(
                select(Port).where(Port.network_id == net.id, Port.device_owner != DHCP_OWNER)
            ).all()
            if busy:
                what = ", ".join(_port_label(p) for p in busy[:3])
                raise Conflict(
                    f"network {net.name} still has {len(busy)} port(s) in use ({what})",
                    "delete its servers, router interfaces and ports first",
                )
            self._drop_rows(s, row)
            record_event(s, "network", net.id, net.name, "deleted")

        # The rows go first; the devices follow, and recovery finishes them from `detail`.
        detail = {"name": net.name, "type": net.provider_network_type, "bridge": net.bridge}
        with self.journal.begin("network.delete", net.id, allocate, **detail) as op:
            self.remove_network_devices(op, net.id, net.provider_network_type, net.bridge)
        return net

    def remove_network_devices(
        self, op: OperationHandle, network_id: str, kind: str, bridge: str
    ) -> None:
        """The steps of a delete after its rows went, by its own process or by recovery."""
        agent = self.ctx.net
        op.step("dhcp")
        agent.remove_dhcp(netnames.dhcp_netns(network_id), netnames.dhcp_veth_bridge(network_id))
        op.step("l2")
        if kind == "vxlan":
            agent.remove_link(netnames.vxlan(network_id))
        elif kind == "vlan":
            agent.remove_link(netnames.vlan(network_id))
        agent.remove_bridge(bridge)
        for remove in self.l2_removers:
            remove(network_id, kind, bridge)
        op.step("finish")
        with self.ctx.store.write() as s:
            op.finish(s)

    def _converge(self, kind: str, allocate: Callable[[Session], Any]) -> Any:
        """Journalled: `allocate` changes the store (a subnet or port row, addresses) in the
        journal row's transaction; then the network's DHCP follows. Killed in between, the
        next start re-syncs DHCP from the store (network_recovery.py): rolled forward."""
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

    def recover(self) -> list[tuple[str, str, str]]:
        from labcloud.services.network_recovery import recover

        return recover(self)

    def _drop_rows(self, s: Session, net: Network) -> None:
        for port in s.exec(select(Port).where(Port.network_id == net.id)):
            self.drop_port(s, port)
        for sub in s.exec(select(Subnet).where(Subnet.network_id == net.id)):
            s.delete(sub)
        s.flush()
        s.delete(net)

    def _own(self, s: Session, row: Any, what: str) -> Any:
        if row.project_id != self.ctx.project.id:
            raise NotFound(
                f"{what} {row.name} belongs to another project",
                "only its own project may change it",
            )
        return row

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
        routes = _check_routes(host_routes or [], net_range)
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
                if _served(sub):
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
                sub.host_routes = json.dumps(_check_routes(host_routes, net_range))
            if enable_dhcp is not None and enable_dhcp != sub.enable_dhcp:
                sub.enable_dhcp = enable_dhcp
                net = s.get(Network, sub.network_id)
                assert net is not None
                if _served(sub):
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
                what = ", ".join(_port_label(p) for p in used[:3])
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

    # -- ports ----------------------------------------------------------------------
    def list_ports(self, network: str | None = None, server_id: str | None = None) -> list[Port]:
        with self.ctx.store.read() as s:
            q = select(Port).where(self._visible(Port))
            if network is not None:
                q = q.where(Port.network_id == self.find_network(s, network).id)
            if server_id is not None:
                q = q.where(Port.device_id == server_id)
            return list(s.exec(q.order_by(col(Port.created_at), col(Port.id))))

    def get_port(self, ref: str) -> Port:
        with self.ctx.store.read() as s:
            return self.find_port(s, ref)

    def fixed_ips(self, port_id: str) -> list[dict[str, str]]:
        with self.ctx.store.read() as s:
            return _fixed_ips(s, [port_id]).get(port_id, [])

    def fixed_ips_of(self, port_ids: list[str]) -> dict[str, list[dict[str, str]]]:
        with self.ctx.store.read() as s:
            return _fixed_ips(s, port_ids)

    @writes
    def create_port(
        self,
        network: str,
        fixed_ips: list[dict[str, str]] | None = None,
        device_owner: str = "",
        device_id: str = "",
        *,
        name: str | None = None,
        mac_address: str | None = None,
        port_security_enabled: bool = True,
        project_id: str | None = None,
    ) -> Port:
        """A port with its addresses, in one write transaction; DHCP learns it at once.

        fixed_ips: [{"subnet": ref, "ip_address": ip}] (either key may be missing);
        none means one address from the first IPv4 (and IPv6) subnet with room.
        """

        def allocate(s: Session) -> Any:
            port = self.allocate_port(
                s,
                network,
                fixed_ips,
                device_owner,
                device_id,
                name=name,
                mac_address=mac_address,
                port_security_enabled=port_security_enabled,
                project_id=project_id,
            )
            return port

        port = self._converge("port.create", allocate)
        return port

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
    ) -> Port:
        """create_port inside the caller's write transaction (no DHCP reload: the caller
        calls sync_dhcp after committing)."""
        if name is not None:
            check_name(name, "port name")
        net = self.find_network(s, network)
        port = self._new_port(
            s,
            net,
            device_owner=device_owner,
            device_id=device_id,
            name=name,
            mac_address=mac_address,
            project_id=project_id,
        )
        charge(self.ctx, s, port.project_id, ports=1)
        port.port_security_enabled = port_security_enabled
        s.add(port)
        s.flush()
        subnets = list(
            s.exec(
                select(Subnet).where(Subnet.network_id == net.id).order_by(col(Subnet.created_at))
            )
        )
        if fixed_ips:
            for item in fixed_ips:
                unknown = set(item) - {"subnet", "ip_address", "subnet_id"}
                if unknown:
                    raise UsageError(
                        f"unknown fixed IP key(s) {', '.join(sorted(unknown))}",
                        "use subnet=SUBNET,ip-address=ADDRESS",
                    )
                self._allocate_ip(
                    s, port, self._subnet_for(s, net, subnets, item), item.get("ip_address")
                )
        else:
            for version in (4, 6):
                candidates = [sub for sub in subnets if sub.ip_version == version]
                if candidates:
                    self._allocate_first(s, port, candidates)
        record_event(s, "port", port.id, port.name, f"created on {net.name}")
        return port

    def _subnet_for(
        self, s: Session, net: Network, subnets: list[Subnet], item: dict[str, str]
    ) -> Subnet:
        ref = item.get("subnet") or item.get("subnet_id")
        if ref:
            for sub in subnets:
                if ref in (sub.id, sub.name):
                    return sub
            raise NotFound(f"network {net.name} has no subnet {ref!r}")
        address = item.get("ip_address")
        if not address:
            raise UsageError("a fixed IP needs subnet= or ip-address=")
        addr = ipam.parse_address(address, "fixed IP address")
        for sub in subnets:
            if addr in ipam.parse_cidr(sub.cidr):
                return sub
        raise UsageError(f"address {address} is in no subnet of network {net.name}")

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
    ) -> Port:
        port_id = new_uuid()
        mac = _check_mac(mac_address) if mac_address else self._free_mac(s)
        if mac_address and s.exec(select(Port.id).where(Port.mac_address == mac)).first():
            raise Conflict(f"MAC address {mac} is already used by another port")
        return Port(
            id=port_id,
            name=name or port_id[:8],
            status="DOWN",
            project_id=project_id or self.ctx.project.id,
            network_id=net.id,
            mac_address=mac,
            device_owner=device_owner,
            device_id=device_id,
            tap=netnames.tap(port_id) if device_owner in ("", COMPUTE_OWNER) else "",
        )

    @staticmethod
    def _free_mac(s: Session) -> str:
        while True:
            tail = ":".join(f"{b:02x}" for b in os.urandom(3))
            mac = f"{MAC_PREFIX}:{tail}"
            if not s.exec(select(Port.id).where(Port.mac_address == mac)).first():
                return mac

    def _allocate_first(self, s: Session, port: Port, subnets: list[Subnet]) -> None:
        for sub in subnets:
            if self._try_allocate(s, port, sub):
                return
        names = ", ".join(sub.name for sub in subnets)
        raise Conflict(
            f"no free address left in subnet(s) {names}",
            "widen the allocation pool or delete unused ports",
        )

    def _try_allocate(self, s: Session, port: Port, sub: Subnet) -> bool:
        if sub.ipv6_address_mode in ipam.EUI64_MODES:
            # The guest forms this address itself from the prefix and its MAC.
            own = str(ipam.eui64(ipam.parse_cidr(sub.cidr), port.mac_address))
            s.add(IPAllocation(port_id=port.id, subnet_id=sub.id, ip_address=own))
            s.flush()
            return True
        used = set(s.exec(select(IPAllocation.ip_address).where(IPAllocation.subnet_id == sub.id)))
        addr = ipam.next_free(ipam.pools_from_json(json.loads(sub.allocation_pools)), used)
        if addr is None:
            return False
        s.add(IPAllocation(port_id=port.id, subnet_id=sub.id, ip_address=str(addr)))
        s.flush()  # the unique constraint speaks now, inside the transaction
        return True

    def _allocate_ip(self, s: Session, port: Port, sub: Subnet, address: str | None) -> None:
        if address is None:
            if not self._try_allocate(s, port, sub):
                raise Conflict(
                    f"no free address left in subnet {sub.name} ({sub.cidr})",
                    "widen the allocation pool or delete unused ports",
                )
            return
        if sub.ipv6_address_mode in ipam.EUI64_MODES:
            raise UsageError(
                f"subnet {sub.name} uses {sub.ipv6_address_mode}: its addresses come from MACs",
                "leave out ip-address= for this subnet",
            )
        addr = str(ipam.check_fixed(ipam.parse_cidr(sub.cidr), address))
        holder = s.exec(
            select(IPAllocation).where(
                IPAllocation.subnet_id == sub.id, IPAllocation.ip_address == addr
            )
        ).first()
        if holder is not None:
            raise Conflict(f"address {addr} is already in use on subnet {sub.name}")
        s.add(IPAllocation(port_id=port.id, subnet_id=sub.id, ip_address=addr))
        s.flush()

    @writes
    def set_port(
        self,
        ref: str,
        *,
        name: str | None = None,
        port_security_enabled: bool | None = None,
        admin_state_up: bool | None = None,
        add_fixed_ips: list[dict[str, str]] | None = None,
    ) -> Port:
        if name is not None:
            check_name(name, "port name")

        def allocate(s: Session) -> Any:
            port = self._own(s, self.find_port(s, ref), "port")
            if name is not None:
                port.name = name
            if port_security_enabled is not None:
                port.port_security_enabled = port_security_enabled
            if admin_state_up is not None:
                port.admin_state_up = admin_state_up
                bound = port.device_owner == COMPUTE_OWNER and bool(port.device_id)
                port.status = "ACTIVE" if admin_state_up and bound else "DOWN"
            if add_fixed_ips:
                net = s.get(Network, port.network_id)
                assert net is not None
                subnets = list(s.exec(select(Subnet).where(Subnet.network_id == net.id)))
                for item in add_fixed_ips:
                    sub = self._subnet_for(s, net, subnets, item)
                    self._allocate_ip(s, port, sub, item.get("ip_address"))
            port.updated_at = utcnow()
            record_event(s, "port", port.id, port.name, "updated")
            return port

        port = self._converge("port.set", allocate)
        if admin_state_up is not None:
            self.apply_port_state(port)
        # Bound or not (a probe may be plugged into an unbound port's tap), the filter
        # follows the change now, not at the next ruleset load.
        for listener in self.port_listeners:
            listener.port_updated(port.id)
        return port

    @writes
    def delete_port(self, ref: str, *, internal: bool = False) -> Port:
        """Delete a port and free its addresses. Without `internal` (the CLI), ports that a
        server, router or DHCP uses are refused, as in Neutron."""

        def allocate(s: Session) -> Any:
            port = self.find_port(s, ref) if not is_uuid(ref) else s.get(Port, ref)
            if port is None:
                port = self.find_port(s, ref)
            if not internal:
                self._own(s, port, "port")
                if port.device_owner == COMPUTE_OWNER and port.device_id:
                    server = s.get(Server, port.device_id)
                    raise Conflict(
                        f"port {port.name} is plugged into server "
                        f"{server.name if server else port.device_id}",
                        "run `labcloud server remove port` first",
                    )
                if port.device_owner.startswith("network:"):
                    raise Conflict(
                        f"port {port.name} belongs to {port.device_owner}",
                        "remove the router interface or subnet that owns it",
                    )
            self.drop_port(s, port)
            record_event(s, "port", port.id, port.name, "deleted")
            return port

        port = self._converge("port.delete", allocate)
        return port

    def apply_port_state(self, port: Port) -> None:
        """A port's admin state on its tap: a disabled port's tap is down, so the guest's
        NIC has no carrier and the bridge forwards nothing to or from it."""
        if port.tap and port.device_owner == COMPUTE_OWNER and port.device_id:
            with self.ctx.store.read() as s:
                server = s.get(Server, port.device_id)
            node = server.node if server is not None else "local"
            if node != "local" and self.remote_link is not None:
                self.remote_link(node, port.tap, port.admin_state_up)
            else:
                self.ctx.net.set_link_up(port.tap, port.admin_state_up)

    @staticmethod
    def drop_port(s: Session, port: Port) -> None:
        for alloc in s.exec(select(IPAllocation).where(IPAllocation.port_id == port.id)):
            s.delete(alloc)
        s.flush()
        s.delete(port)

    # -- servers' view --------------------------------------------------------------
    def server_ports(self, server_id: str) -> list[Port]:
        with self.ctx.store.read() as s:
            return _server_ports(s, server_id)

    def server_macs(self, server_id: str) -> list[str]:
        """The server's NIC MACs in device order (for the cloud-init seed)."""
        return [p.mac_address for p in self.server_ports(server_id)]

    def server_addresses(self, server_ids: list[str] | None = None) -> dict[str, str]:
        """server id -> Nova's Networks column text, e.g. "demo-net=10.0.0.5, 10.0.1.3"."""
        with self.ctx.store.read() as s:
            q = (
                select(Port.device_id, Network.name, IPAllocation.ip_address)
                .join(Network, Network.id == Port.network_id)  # type: ignore[arg-type]
                .join(IPAllocation, IPAllocation.port_id == Port.id, isouter=True)  # type: ignore[arg-type]
                .where(Port.device_owner == COMPUTE_OWNER)
                .order_by(col(Port.device_index), col(IPAllocation.id))
            )
            if server_ids is not None:
                q = q.where(Port.device_id.in_(server_ids))  # type: ignore[attr-defined]
            grouped: dict[str, dict[str, list[str]]] = {}
            for device_id, net_name, ip in s.exec(q):
                ips = grouped.setdefault(device_id, {}).setdefault(net_name, [])
                if ip:
                    ips.append(ip)
        return {
            sid: "; ".join(f"{n}={', '.join(ips)}" for n, ips in nets.items())
            for sid, nets in grouped.items()
        }

    # -- the node side --------------------------------------------------------------
    def sync_dhcp(self, network_id: str) -> None:
        """Make the network's dnsmasq serve exactly the store's ports (or stop it)."""
        agent = self.ctx.net
        spec = self.dhcp_spec(network_id)
        # Another process may apply an older view after ours: read again after applying,
        # and apply once more if the store moved on meanwhile (the last writer converges).
        for _ in range(3):
            if spec is None:
                agent.remove_dhcp(
                    netnames.dhcp_netns(network_id), netnames.dhcp_veth_bridge(network_id)
                )
            else:
                agent.ensure_dhcp(spec)
            again = self.dhcp_spec(network_id)
            if again == spec:
                return
            spec = again

    def dhcp_spec(self, network_id: str) -> dict[str, object] | None:
        with self.ctx.store.read() as s:
            net = s.get(Network, network_id)
            if net is None:
                return None
            subnets = [
                sub
                for sub in s.exec(select(Subnet).where(Subnet.network_id == net.id))
                if _served(sub)
            ]
            if not subnets:
                return None
            ports = list(s.exec(select(Port).where(Port.network_id == net.id)))
            ips = _fixed_ips(s, [p.id for p in ports])
        by_id = {sub.id: sub for sub in subnets}
        hosts: list[dict[str, str]] = []
        addresses: list[str] = []
        for port in ports:
            for fixed in ips.get(port.id, []):
                sub = by_id.get(fixed["subnet_id"])
                if sub is None:
                    continue
                slaac = sub.ip_version == 6 and _v6_mode(sub) != "dhcpv6-stateful"
                if slaac and port.device_owner != DHCP_OWNER:
                    continue  # SLAAC: the guest forms the address, no DHCPv6 lease
                if port.device_owner == DHCP_OWNER:
                    addresses.append(f"{fixed['ip_address']}/{sub.cidr.split('/')[1]}")
                elif port.device_owner != "network:floatingip":  # no NIC asks for these
                    hosts.append(
                        {
                            "mac": port.mac_address,
                            "ip": fixed["ip_address"],
                            "hostname": "host-"
                            + fixed["ip_address"].replace(".", "-").replace(":", "-"),
                        }
                    )
        return {
            "netns": netnames.dhcp_netns(net.id),
            "veth_bridge": netnames.dhcp_veth_bridge(net.id),
            "veth_ns": netnames.dhcp_veth_ns(net.id),
            "bridge": net.bridge,
            "mtu": net.mtu,
            "addresses": addresses,
            "subnets": [
                {
                    "tag": f"s{i}",
                    "cidr": sub.cidr,
                    "ip_version": sub.ip_version,
                    "gateway": sub.gateway_ip,
                    "dns": json.loads(sub.dns_nameservers),
                    "routes": json.loads(sub.host_routes),
                    "mtu": net.mtu,
                    "mode": _v6_mode(sub),
                }
                for i, sub in enumerate(subnets)
            ],
            "hosts": hosts,
        }

    def ensure_network(self, network_id: str) -> None:
        """Everything a network needs on the node: bridge, uplink or VXLAN, DHCP."""
        with self.ctx.store.read() as s:
            net = s.get(Network, network_id)
        if net is None:
            raise NotFound(f"network {network_id} does not exist")
        self.ensure_l2(net)
        self.sync_dhcp(net.id)

    def doctor_check(self, repair: bool) -> list[Any]:
        from labcloud.services.network_doctor import check_networks

        return check_networks(self, repair)

    def topology(self) -> dict[str, Any]:
        from labcloud.services.topology import build_topology

        return build_topology(self)


def _served(sub: Subnet) -> bool:
    """Whether the network's dnsmasq serves the subnet: IPv4 with DHCP on, or IPv6 with an
    RA/address mode (then dnsmasq sends the router advertisements too)."""
    if not sub.enable_dhcp:
        return False
    return sub.ip_version == 4 or bool(sub.ipv6_address_mode or sub.ipv6_ra_mode)


def _v6_mode(sub: Subnet) -> str | None:
    return sub.ipv6_address_mode or sub.ipv6_ra_mode if sub.ip_version == 6 else None


def _find(s: Session, model: Any, ref: str, what: str, scope: Any) -> Any:
    key = model.id if is_uuid(ref) else model.name
    rows = list(s.exec(select(model).where(key == ref, scope)))
    if not rows:
        raise NotFound(
            f"no {what} named or with ID {ref!r}",
            f"`labcloud {what} list` shows the {what}s you can use",
        )
    if len(rows) > 1:
        raise NotFound(f"more than one {what} is named {ref!r}", "use its ID instead")
    return rows[0]


def _fixed_ips(s: Session, port_ids: list[str]) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    if not port_ids:
        return out
    q = (
        select(IPAllocation, Subnet.name)
        .join(Subnet, Subnet.id == IPAllocation.subnet_id)  # type: ignore[arg-type]
        .where(IPAllocation.port_id.in_(port_ids))  # type: ignore[attr-defined]
        .order_by(col(IPAllocation.id))
    )
    for alloc, subnet_name in s.exec(q):
        out.setdefault(alloc.port_id, []).append(
            {
                "subnet_id": alloc.subnet_id,
                "subnet": subnet_name,
                "ip_address": alloc.ip_address,
            }
        )
    return out


def _server_ports(s: Session, server_id: str) -> list[Port]:
    q = select(Port).where(Port.device_id == server_id, Port.device_owner == COMPUTE_OWNER)
    return list(s.exec(q.order_by(col(Port.device_index), col(Port.created_at))))


def next_device_index(s: Session, server_id: str) -> int:
    top = s.exec(
        select(func.max(Port.device_index)).where(
            Port.device_id == server_id, Port.device_owner == COMPUTE_OWNER
        )
    ).first()
    return 0 if top is None else int(top) + 1


def _port_label(port: Port) -> str:
    return f"{port.name}: {port.device_owner or 'unbound'}"


def _check_mac(text: str) -> str:
    mac = text.lower()
    parts = mac.split(":")
    if len(parts) != 6 or not all(
        len(p) == 2 and all(c in "0123456789abcdef" for c in p) for p in parts
    ):
        raise UsageError(f"invalid MAC address {text!r}", "e.g. fa:16:3e:12:34:56")
    if int(parts[0], 16) & 1:
        raise UsageError(f"MAC address {text} is a multicast address", "use a unicast MAC")
    return mac


def _check_routes(routes: list[dict[str, str]], net: ipam.IPNetwork) -> list[dict[str, str]]:
    out = []
    for r in routes:
        dest = r.get("destination")
        hop = r.get("nexthop") or r.get("gateway")
        if not dest or not hop:
            raise UsageError(
                "a host route needs destination= and gateway=",
                "e.g. destination=10.1.0.0/24,gateway=10.0.0.254",
            )
        try:
            d = ipaddress.ip_network(dest)
        except ValueError:
            raise UsageError(f"invalid host route destination {dest!r}") from None
        h = ipam.parse_address(hop, "host route gateway")
        if d.version != net.version or h.version != net.version:
            raise UsageError(f"host route {dest} via {hop} is not IPv{net.version}")
        out.append({"destination": str(d), "nexthop": str(h)})
    return out


__all__ = ["LabError", "NetworkService", "PortListener", "next_device_index"]
