"""Networks: create (with their L2 on the node), change, delete."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from labcloud.db.models import utcnow
from labcloud.db.network_models import Network, Port, Subnet
from labcloud.errors import BackendError, Conflict, NotFound, UsageError
from labcloud.names import check_name, new_uuid
from labcloud.services.core import (
    OperationHandle,
    charge,
    netnames,
    record_event,
    writes,
)
from labcloud.services.network.base import NetworkBase
from labcloud.services.network.common import (
    DHCP_OWNER,
    PROVIDER_TYPES,
    VXLAN_OVERHEAD,
    port_label,
)


class NetworkOps(NetworkBase):
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
                what = ", ".join(port_label(p) for p in busy[:3])
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

    def _drop_rows(self, s: Session, net: Network) -> None:
        for port in s.exec(select(Port).where(Port.network_id == net.id)):
            self.drop_port(s, port)
        for sub in s.exec(select(Subnet).where(Subnet.network_id == net.id)):
            s.delete(sub)
        s.flush()
        s.delete(net)
