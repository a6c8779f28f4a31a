"""Ports: made, addressed (IPAM), changed and deleted; and servers' view of them."""

from __future__ import annotations

import json
import os
from typing import Any

from sqlmodel import Session, col, select

from labcloud.db.models import Server, utcnow
from labcloud.db.network_models import IPAllocation, Network, Port, Subnet
from labcloud.errors import Conflict, NotFound, UsageError
from labcloud.names import check_name, is_uuid, new_uuid
from labcloud.services.core import (
    charge,
    netnames,
    record_event,
    writes,
)
from labcloud.services.network import ipam
from labcloud.services.network.base import NetworkBase
from labcloud.services.network.common import (
    COMPUTE_OWNER,
    MAC_PREFIX,
    check_mac,
    fixed_ips_by_port,
    ports_of_server,
)


class PortOps(NetworkBase):
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
            return fixed_ips_by_port(s, [port_id]).get(port_id, [])

    def fixed_ips_of(self, port_ids: list[str]) -> dict[str, list[dict[str, str]]]:
        with self.ctx.store.read() as s:
            return fixed_ips_by_port(s, port_ids)

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
        mac = check_mac(mac_address) if mac_address else self._free_mac(s)
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
            return ports_of_server(s, server_id)

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
