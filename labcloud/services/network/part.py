"""The network service's part in a server's life: its NICs, and hot-plugging them.

--network NET makes a port that is deleted with the server; --port PORT binds a port the
user made, which is only unbound when the server goes (as in Nova); --nic takes either.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlmodel import Session, select

from labcloud.db.models import Server, utcnow
from labcloud.db.network_models import Network, Port
from labcloud.errors import Conflict, UsageError
from labcloud.services.core import CreateRequest, Devices, find, record_event, writes
from labcloud.services.network.common import (
    COMPUTE_OWNER,
    fixed_ips_by_port,
    next_device_index,
    ports_of_server,
)

if TYPE_CHECKING:
    from labcloud.services.network.host import NetworkHost

NIC_KEYS = {"net-id", "port-id", "v4-fixed-ip", "v6-fixed-ip"}
DETACH_TIMEOUT = 60.0


class NetworkPart:
    noun = "server"

    claims = frozenset({"networks", "ports", "nics"})

    def __init__(self, service: NetworkHost) -> None:
        self.service = service
        self.ctx = service.ctx
        # (server_id, node): make the server's networks reach its node before a NIC is
        # hot-plugged there (lab.py wires node_networks.plumb); None on one machine.
        self.node_plumb: Callable[[str, str], None] | None = None

    # -- ServerPart -----------------------------------------------------------------
    def _wanted(self, request: CreateRequest) -> list[tuple[str, str, dict[str, str]]]:
        """The NICs asked for, in order: ("net", ref, fixed_ip) or ("port", ref, {})."""
        wanted: list[tuple[str, str, dict[str, str]]] = []
        for nic in request.nics:
            unknown = set(nic) - NIC_KEYS
            if unknown:
                raise UsageError(
                    f"--nic: unknown key(s) {', '.join(sorted(unknown))}",
                    "use net-id=NET[,v4-fixed-ip=IP] or port-id=PORT",
                )
            if ("net-id" in nic) == ("port-id" in nic):
                raise UsageError("--nic needs exactly one of net-id= and port-id=")
            if "port-id" in nic:
                if "v4-fixed-ip" in nic or "v6-fixed-ip" in nic:
                    raise UsageError("--nic port-id= takes the port's own addresses")
                wanted.append(("port", nic["port-id"], {}))
            else:
                ip = nic.get("v4-fixed-ip") or nic.get("v6-fixed-ip")
                wanted.append(("net", nic["net-id"], {"ip_address": ip} if ip else {}))
        wanted += [("net", ref, {}) for ref in request.networks]
        wanted += [("port", ref, {}) for ref in request.ports]
        return wanted

    def validate(self, s: Session, request: CreateRequest, server: Server) -> None:
        seen: set[str] = set()
        for kind, ref, _fixed in self._wanted(request):
            if kind == "net":
                self.service.find_network(s, ref)
                continue
            port = self.service.find_port(s, ref)
            self._check_free(port)
            if port.id in seen:
                raise UsageError(f"port {port.name} is given twice")
            seen.add(port.id)

    @staticmethod
    def _check_free(port: Port) -> None:
        if port.device_id or port.device_owner:
            raise Conflict(
                f"port {port.name} is already in use ({port.device_owner or 'bound'})",
                "pick an unbound port or remove it from its server first",
            )

    def allocate(self, s: Session, request: CreateRequest, server: Server) -> None:
        for index, (kind, ref, fixed) in enumerate(self._wanted(request)):
            if kind == "net":
                port = self.service.allocate_port(
                    s,
                    ref,
                    [fixed] if fixed else None,
                    COMPUTE_OWNER,
                    server.id,
                    project_id=server.project_id,
                )
                port.auto_delete = True
            else:
                port = self.service.find_port(s, ref)
                self._check_free(port)  # again, under the write lock
                port.device_owner, port.device_id = COMPUTE_OWNER, server.id
            port.device_index = index
            port.updated_at = utcnow()
            s.add(port)
        s.flush()  # later parts (security groups, the seed) see the ports in this session

    def provision(self, server: Server, request: CreateRequest) -> None:
        ports = self.service.server_ports(server.id)
        for network_id in dict.fromkeys(p.network_id for p in ports):
            self.service.ensure_network(network_id)
        self._mark(ports, "ACTIVE")
        for port in ports:
            for listener in self.service.port_listeners:
                listener.port_plugged(port.id)

    def started(self, server_id: str) -> None:
        """The domain (re)started and libvirt brought its taps up: disabled ports go down."""
        for port in self.service.server_ports(server_id):
            if not port.admin_state_up:
                self.service.apply_port_state(port)

    def devices(self, server: Server) -> Devices:
        with self.ctx.store.read() as s:
            ports = ports_of_server(s, server.id)
            nets = {n.id: n for n in s.exec(select(Network))} if ports else {}
        return Devices(nics=[_nic(p, nets[p.network_id]) for p in ports])

    def release(self, server_id: str) -> None:
        ports = self.service.server_ports(server_id)
        if not ports:
            return
        with self.ctx.store.write() as s:
            for port in ports:
                row = s.get(Port, port.id)
                if row is None:
                    continue
                if row.auto_delete:
                    self.service.drop_port(s, row)
                else:
                    _unbind(row)
        # Told once the ports are gone or unbound, so what listeners read (the ruleset's
        # ports) no longer holds them.
        for port in ports:
            for listener in self.service.port_listeners:
                listener.port_unplugged(port.id)
        for network_id in dict.fromkeys(p.network_id for p in ports):
            self.service.sync_dhcp(network_id)

    def _mark(self, ports: list[Port], status: str) -> None:
        if not ports:
            return  # no write transaction (and no wait for the write lock) for nothing
        with self.ctx.store.write() as s:
            for port in ports:
                row = s.get(Port, port.id)
                if row is not None:
                    # A disabled port stays DOWN while plugged (as Neutron reports it).
                    row.status = status if row.admin_state_up else "DOWN"

    # -- hot-plug -------------------------------------------------------------------
    @writes
    def add_port(self, server_ref: str, port_ref: str) -> Port:
        """`server add port`: bind the port, plug it into the running server."""
        with self.ctx.store.write() as s:
            server = self._server(s, server_ref)
            port = self.service.find_port(s, port_ref)
            self._check_free(port)
            port.device_owner, port.device_id = COMPUTE_OWNER, server.id
            port.device_index = next_device_index(s, server.id)
            record_event(s, "server", server.id, server.name, f"port {port.name} added")
        try:
            self._plug(server, port)
        except BaseException:
            with self.ctx.store.write() as s:
                row = s.get(Port, port.id)
                if row is not None:
                    _unbind(row)
            self.service.sync_dhcp(port.network_id)
            raise
        return port

    @writes
    def add_network(self, server_ref: str, network_ref: str, fixed_ip: str | None) -> Port:
        """`server add network`: a new port on the network, deleted with the server."""
        with self.ctx.store.write() as s:
            server = self._server(s, server_ref)
            port = self.service.allocate_port(
                s,
                network_ref,
                [{"ip_address": fixed_ip}] if fixed_ip else None,
                COMPUTE_OWNER,
                server.id,
                project_id=server.project_id,
            )
            port.auto_delete = True
            port.device_index = next_device_index(s, server.id)
            record_event(s, "server", server.id, server.name, f"network port {port.name} added")
        try:
            self._plug(server, port)
        except BaseException:
            self.service.delete_port(port.id, internal=True)
            raise
        return port

    def _plug(self, server: Server, port: Port) -> None:
        self.service.ensure_network(port.network_id)
        if self.node_plumb is not None:
            self.node_plumb(server.id, server.node)
        xml = self._xml(port)
        hv = self.ctx.hypervisor_for(server.node)
        if hv.exists(server.id):
            hv.attach_device(server.id, xml)
            if not port.admin_state_up:
                self.service.apply_port_state(port)
        self._mark([port], "ACTIVE")
        for listener in self.service.port_listeners:
            listener.port_plugged(port.id)

    @writes
    def remove_port(self, server_ref: str, port_ref: str) -> Port:
        """`server remove port`: unplug it from the guest, then unbind (or delete) it."""
        with self.ctx.store.read() as s:
            server = self._server(s, server_ref)
            port = self.service.find_port(s, port_ref)
        if port.device_id != server.id or port.device_owner != COMPUTE_OWNER:
            raise Conflict(f"port {port.name} is not plugged into server {server.name}")
        hv = self.ctx.hypervisor_for(server.node)
        if hv.exists(server.id):
            hv.detach_device(server.id, self._xml(port), DETACH_TIMEOUT)
        with self.ctx.store.write() as s:
            row = s.get(Port, port.id)
            if row is not None:
                if row.auto_delete:
                    self.service.drop_port(s, row)
                else:
                    _unbind(row)
            record_event(s, "server", server.id, server.name, f"port {port.name} removed")
        for listener in self.service.port_listeners:
            listener.port_unplugged(port.id)
        self.service.sync_dhcp(port.network_id)
        return port

    @writes
    def remove_network(self, server_ref: str, network_ref: str) -> list[Port]:
        with self.ctx.store.read() as s:
            server = self._server(s, server_ref)
            net = self.service.find_network(s, network_ref)
            ports = [p for p in ports_of_server(s, server.id) if p.network_id == net.id]
        if not ports:
            raise Conflict(f"server {server.name} has no port on network {net.name}")
        return [self.remove_port(server.id, p.id) for p in ports]

    def _server(self, s: Session, ref: str) -> Server:
        server = find(s, Server, ref, "server", project_id=self.ctx.project.id)
        if server.task_state:
            raise Conflict(f"server {server.name} is busy ({server.task_state})")
        return server

    def _xml(self, port: Port) -> str:
        with self.ctx.store.read() as s:
            net = s.get(Network, port.network_id)
        assert net is not None
        return self.ctx.device_builder("interface", _nic(port, net))

    def fixed_ips(self, port_id: str) -> list[dict[str, str]]:
        with self.ctx.store.read() as s:
            return fixed_ips_by_port(s, [port_id]).get(port_id, [])


def _nic(port: Port, net: Network) -> dict[str, object]:
    return {"mac": port.mac_address, "bridge": net.bridge, "target_dev": port.tap, "mtu": net.mtu}


def _unbind(port: Port) -> None:
    port.device_id, port.device_owner, port.status = "", "", "DOWN"
    port.device_index = 0
    port.updated_at = utcnow()
