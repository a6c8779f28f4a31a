"""port create|list|show|set|delete, and server add|remove port|network"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labcloud.cli.each import each
from labcloud.cli.inputs import parse_pairs
from labcloud.cli.output import Record, Table
from labcloud.cli.registry import arg, command
from labcloud.errors import UsageError

if TYPE_CHECKING:
    from labcloud.lab import Lab

COLUMNS = ("ID", "Name", "MAC Address", "Fixed IP Addresses", "Status")


def _ips(fixed: list[dict[str, str]]) -> str:
    return ", ".join(f"ip_address='{f['ip_address']}', subnet_id='{f['subnet_id']}'" for f in fixed)


def record(lab: Lab, p: Any) -> Record:
    return Record(
        {
            "id": p.id,
            "name": p.name,
            "network_id": p.network_id,
            "mac_address": p.mac_address,
            "fixed_ips": _ips(lab.network.fixed_ips(p.id)),
            "device_owner": p.device_owner,
            "device_id": p.device_id,
            "port_security_enabled": p.port_security_enabled,
            "admin_state_up": p.admin_state_up,
            "status": p.status,
            "binding:tap": p.tap,
            "project_id": p.project_id,
            "created_at": p.created_at,
            "updated_at": p.updated_at,
        }
    )


@command(
    "port",
    "list",
    help="List ports",
    example="labcloud port list --network demo-net",
    args=(arg("--network"), arg("--server", help="only this server's ports")),
)
def port_list(lab: Lab, a: Any) -> Table:
    server_id = lab.compute.get(a.server, sync=False).id if a.server else None
    ports = lab.network.list_ports(a.network, server_id)
    ips = lab.network.fixed_ips_of([p.id for p in ports])
    rows = [(p.id, p.name, p.mac_address, _ips(ips.get(p.id, [])), p.status) for p in ports]
    return Table(COLUMNS, rows)


@command("port", "show", help="Show one port", example="labcloud port show p1", args=(arg("port"),))
def port_show(lab: Lab, a: Any) -> Record:
    return record(lab, lab.network.get_port(a.port))


def _fixed(items: list[str]) -> list[dict[str, str]]:
    out = []
    for item in items:
        pairs = parse_pairs(item, "--fixed-ip")
        unknown = set(pairs) - {"subnet", "ip-address"}
        if unknown or not pairs:
            raise UsageError(f"--fixed-ip {item!r}: expected subnet=SUBNET,ip-address=IP")
        out.append({k.replace("-", "_"): v for k, v in pairs.items()})
    return out


@command(
    "port",
    "create",
    help="Create a port (its addresses come from the network's subnets)",
    example="labcloud port create p1 --network demo-net --fixed-ip ip-address=10.0.0.50",
    args=(
        arg("name"),
        arg("--network", required=True),
        arg("--fixed-ip", action="append", default=[], metavar="subnet=SUBNET,ip-address=IP"),
        arg("--mac-address"),
        arg("--disable-port-security", action="store_true"),
        arg("--enable-port-security", action="store_true"),
    ),
)
def port_create(lab: Lab, a: Any) -> Record:
    if a.disable_port_security and a.enable_port_security:
        raise UsageError("give --enable-port-security or --disable-port-security, not both")
    port = lab.network.create_port(
        a.network,
        _fixed(a.fixed_ip) or None,
        name=a.name,
        mac_address=a.mac_address,
        port_security_enabled=not a.disable_port_security,
    )
    return record(lab, port)


@command(
    "port",
    "set",
    help="Change a port",
    example="labcloud port set p1 --disable-port-security",
    args=(
        arg("port"),
        arg("--name"),
        arg("--fixed-ip", action="append", default=[], help="add an address (repeatable)"),
        arg("--disable-port-security", action="store_true"),
        arg("--enable-port-security", action="store_true"),
        arg("--enable", action="store_true"),
        arg("--disable", action="store_true"),
    ),
)
def port_set(lab: Lab, a: Any) -> str:
    security = True if a.enable_port_security else False if a.disable_port_security else None
    lab.network.set_port(
        a.port,
        name=a.name,
        port_security_enabled=security,
        admin_state_up=True if a.enable else False if a.disable else None,
        add_fixed_ips=_fixed(a.fixed_ip) or None,
    )
    return ""


@command(
    "port",
    "delete",
    help="Delete ports (refused while a server, router or DHCP uses them)",
    example="labcloud port delete p1",
    args=(arg("port", nargs="+"),),
)
def port_delete(lab: Lab, a: Any) -> str:
    return each(a.port, lab.network.delete_port)


@command(
    "server",
    "add",
    "port",
    help="Plug a port into a server (hot-plug when it runs)",
    example="labcloud server add port web1 p1",
    args=(arg("server"), arg("port")),
)
def server_add_port(lab: Lab, a: Any) -> str:
    lab.network.server_part.add_port(a.server, a.port)
    return ""


@command(
    "server",
    "remove",
    "port",
    help="Unplug a port from a server; the port is kept unless the server made it",
    example="labcloud server remove port web1 p1",
    args=(arg("server"), arg("port")),
)
def server_remove_port(lab: Lab, a: Any) -> str:
    lab.network.server_part.remove_port(a.server, a.port)
    return ""


@command(
    "server",
    "add",
    "network",
    help="Give a server a new port on a network (hot-plug when it runs)",
    example="labcloud server add network web1 demo-net",
    args=(arg("server"), arg("network"), arg("--fixed-ip-address")),
)
def server_add_network(lab: Lab, a: Any) -> str:
    lab.network.server_part.add_network(a.server, a.network, a.fixed_ip_address)
    return ""


@command(
    "server",
    "remove",
    "network",
    help="Unplug and delete a server's ports on a network",
    example="labcloud server remove network web1 demo-net",
    args=(arg("server"), arg("network")),
)
def server_remove_network(lab: Lab, a: Any) -> str:
    lab.network.server_part.remove_network(a.server, a.network)
    return ""
