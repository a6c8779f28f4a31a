"""flavor list|show|create|delete"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labcloud.cli.output import Record, Table
from labcloud.cli.registry import arg, command

if TYPE_CHECKING:
    from labcloud.lab import Lab

COLUMNS = ("ID", "Name", "VCPUs", "RAM", "Disk", "Ephemeral", "Is Public")


def _row(f: Any) -> tuple[Any, ...]:
    return (f.id, f.name, f.vcpus, f.ram, f.disk, f.ephemeral, f.is_public)


def record(f: Any) -> Record:
    return Record(
        {
            "id": f.id,
            "name": f.name,
            "vcpus": f.vcpus,
            "ram": f.ram,
            "disk": f.disk,
            "ephemeral": f.ephemeral,
            "is_public": f.is_public,
            "created_at": f.created_at,
        }
    )


@command("flavor", "list", help="List flavors", example="labcloud flavor list -f value -c Name")
def flavor_list(lab: Lab, a: Any) -> Table:
    return Table(COLUMNS, [_row(f) for f in lab.flavors.list()])


@command(
    "flavor",
    "show",
    help="Show one flavor",
    example="labcloud flavor show m1.tiny",
    args=(arg("flavor", help="name or ID"),),
)
def flavor_show(lab: Lab, a: Any) -> Record:
    return record(lab.flavors.get(a.flavor))


@command(
    "flavor",
    "create",
    help="Create a flavor",
    example="labcloud flavor create m1.micro --vcpus 1 --ram 256 --disk 1",
    args=(
        arg("name"),
        arg("--vcpus", type=int, required=True),
        arg("--ram", type=int, required=True, help="MiB"),
        arg("--disk", type=int, default=0, help="GiB"),
        arg("--ephemeral", type=int, default=0, help="GiB"),
    ),
)
def flavor_create(lab: Lab, a: Any) -> Record:
    return record(lab.flavors.create(a.name, a.vcpus, a.ram, a.disk, a.ephemeral))


@command(
    "flavor",
    "delete",
    help="Delete a flavor (servers keep their copy of it)",
    example="labcloud flavor delete m1.micro",
    args=(arg("flavor", nargs="+"),),
)
def flavor_delete(lab: Lab, a: Any) -> str:
    for ref in a.flavor:
        lab.flavors.delete(ref)
    return ""
