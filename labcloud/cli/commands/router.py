"""router create|list|show|delete|set, router add|remove subnet"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labcloud.cli.each import each
from labcloud.cli.output import Record, Table
from labcloud.cli.registry import arg, command
from labcloud.errors import UsageError

if TYPE_CHECKING:
    from labcloud.lab import Lab


def _gateway(lab: Lab, r: Any) -> str:
    for leg in lab.routers.interfaces(r.id):
        if leg["kind"] == "gateway":
            return f"network_id='{r.external_network_id}', ip_address='{leg['ip_address']}'"
    return ""


def record(lab: Lab, r: Any) -> Record:
    legs = lab.routers.interfaces(r.id)
    return Record(
        {
            "id": r.id,
            "name": r.name,
            "status": r.status,
            "admin_state_up": r.admin_state_up,
            "external_gateway_info": _gateway(lab, r),
            "interfaces_info": "\n".join(
                f"subnet='{leg['subnet']}', ip_address='{leg['ip_address']}', "
                f"port_id='{leg['port_id']}'"
                for leg in legs
                if leg["kind"] == "interface"
            ),
            "namespace": r.namespace,
            "project_id": r.project_id,
            "created_at": r.created_at,
            "updated_at": r.updated_at,
        }
    )


@command(
    "router",
    "create",
    help="Create a router (a network namespace)",
    example="labcloud router create r1",
    args=(arg("name"),),
)
def router_create(lab: Lab, a: Any) -> Record:
    return record(lab, lab.routers.create(a.name))


@command("router", "list", help="List routers", example="labcloud router list")
def router_list(lab: Lab, a: Any) -> Table:
    rows = []
    for r in lab.routers.list():
        gw = _gateway(lab, r)
        rows.append((r.id, r.name, r.status, "UP" if r.admin_state_up else "DOWN", gw))
    return Table(("ID", "Name", "Status", "State", "External Gateway"), rows)


@command(
    "router",
    "show",
    help="Show one router",
    example="labcloud router show r1",
    args=(arg("router"),),
)
def router_show(lab: Lab, a: Any) -> Record:
    return record(lab, lab.routers.get(a.router))


@command(
    "router",
    "delete",
    help="Delete routers (refused while they have subnet interfaces)",
    example="labcloud router delete r1",
    args=(arg("router", nargs="+"),),
)
def router_delete(lab: Lab, a: Any) -> str:
    return each(a.router, lab.routers.delete)


@command(
    "router",
    "add",
    "subnet",
    help="Give a router a leg on a subnet (it takes the subnet's gateway address)",
    example="labcloud router add subnet r1 sub1",
    args=(arg("router"), arg("subnet")),
)
def router_add_subnet(lab: Lab, a: Any) -> str:
    lab.routers.add_subnet(a.router, a.subnet)
    return ""


@command(
    "router",
    "remove",
    "subnet",
    help="Remove a router's leg on a subnet",
    example="labcloud router remove subnet r1 sub1",
    args=(arg("router"), arg("subnet")),
)
def router_remove_subnet(lab: Lab, a: Any) -> str:
    lab.routers.remove_subnet(a.router, a.subnet)
    return ""


@command(
    "router",
    "set",
    help="Set a router's external gateway (SNAT to its address)",
    example="labcloud router set r1 --external-gateway public",
    args=(
        arg("router"),
        arg("--external-gateway", metavar="NETWORK", help="an external network"),
        arg("--no-external-gateway", action="store_true", help="detach from it"),
    ),
)
def router_set(lab: Lab, a: Any) -> Record:
    if a.external_gateway and a.no_external_gateway:
        raise UsageError("give --external-gateway or --no-external-gateway, not both")
    if not a.external_gateway and not a.no_external_gateway:
        raise UsageError("nothing to set", "give --external-gateway NET or --no-external-gateway")
    return record(lab, lab.routers.set_gateway(a.router, a.external_gateway))
