"""floating ip create|list|show|delete, server add|remove floating ip"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labcloud.cli.each import each
from labcloud.cli.output import Record, Table
from labcloud.cli.registry import arg, command

if TYPE_CHECKING:
    from labcloud.lab import Lab

COLUMNS = ("ID", "Floating IP Address", "Fixed IP Address", "Port", "Floating Network", "Router")


def record(lab: Lab, f: Any) -> Record:
    nets = lab.floating_ips.network_names()
    return Record(
        {
            "id": f.id,
            "floating_ip_address": f.floating_ip_address,
            "floating_network_id": f.floating_network_id,
            "floating_network": nets.get(f.floating_network_id, ""),
            "fixed_ip_address": f.fixed_ip_address,
            "port_id": f.port_id,
            "router_id": f.router_id,
            "status": f.status,
            "project_id": f.project_id,
            "created_at": f.created_at,
            "updated_at": f.updated_at,
        }
    )


@command(
    "floating",
    "ip",
    "create",
    help="Allocate a floating IP from an external network",
    example="labcloud floating ip create public",
    args=(arg("network"), arg("--floating-ip-address", metavar="IP")),
)
def fip_create(lab: Lab, a: Any) -> Record:
    return record(lab, lab.floating_ips.create(a.network, a.floating_ip_address))


@command("floating", "ip", "list", help="List floating IPs", example="labcloud floating ip list")
def fip_list(lab: Lab, a: Any) -> Table:
    nets = lab.floating_ips.network_names()
    return Table(
        COLUMNS,
        [
            (
                f.id,
                f.floating_ip_address,
                f.fixed_ip_address or "",
                f.port_id or "",
                nets.get(f.floating_network_id, f.floating_network_id),
                f.router_id or "",
            )
            for f in lab.floating_ips.list()
        ],
    )


@command(
    "floating",
    "ip",
    "show",
    help="Show a floating IP (by address or ID)",
    example="labcloud floating ip show 203.0.113.50",
    args=(arg("floating_ip"),),
)
def fip_show(lab: Lab, a: Any) -> Record:
    return record(lab, lab.floating_ips.get(a.floating_ip))


@command(
    "floating",
    "ip",
    "delete",
    help="Release floating IPs",
    example="labcloud floating ip delete 203.0.113.50",
    args=(arg("floating_ip", nargs="+"),),
)
def fip_delete(lab: Lab, a: Any) -> str:
    return each(a.floating_ip, lab.floating_ips.delete)


@command(
    "server",
    "add",
    "floating",
    "ip",
    help="NAT a floating IP to a server's fixed address",
    example="labcloud server add floating ip web1 203.0.113.50",
    args=(arg("server"), arg("floating_ip"), arg("--fixed-ip-address", metavar="IP")),
)
def server_add_fip(lab: Lab, a: Any) -> str:
    lab.floating_ips.associate(a.server, a.floating_ip, a.fixed_ip_address)
    return ""


@command(
    "server",
    "remove",
    "floating",
    "ip",
    help="Take a floating IP off a server",
    example="labcloud server remove floating ip web1 203.0.113.50",
    args=(arg("server"), arg("floating_ip")),
)
def server_remove_fip(lab: Lab, a: Any) -> str:
    lab.floating_ips.disassociate(a.server, a.floating_ip)
    return ""
