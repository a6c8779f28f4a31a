"""image create|list|show|delete"""

from __future__ import annotations

import json
from typing import Any

from labcloud.cli.output import Record, Table
from labcloud.cli.registry import arg, command
from labcloud.errors import UsageError

COLUMNS = ("ID", "Name", "Status", "Disk Format", "Size", "Visibility")


def _row(i: Any) -> tuple[Any, ...]:
    return (i.id, i.name, i.status, i.disk_format, i.size, i.visibility)


def record(i: Any) -> Record:
    return Record(
        {
            "id": i.id,
            "name": i.name,
            "status": i.status,
            "disk_format": i.disk_format,
            "container_format": i.container_format,
            "file_format": i.file_format,
            "size": i.size,
            "virtual_size": i.virtual_size,
            "checksum": i.checksum,
            "visibility": i.visibility,
            "protected": i.protected,
            "min_disk": i.min_disk,
            "min_ram": i.min_ram,
            "kernel_id": i.kernel_id,
            "ramdisk_id": i.ramdisk_id,
            "properties": json.loads(i.properties or "{}"),
            "project_id": i.project_id,
            "created_at": i.created_at,
            "updated_at": i.updated_at,
        }
    )


@command(
    "image",
    "create",
    help="Create an image (--builtin: the tiny kernel+ramdisk image)",
    example="labcloud image create tiny --builtin",
    args=(
        arg("name"),
        arg(
            "--builtin",
            action="store_true",
            help="build the CirrOS-like tiny image from the host's kernel package and busybox",
        ),
    ),
)
def image_create(lab: Any, a: Any) -> Record:
    if not a.builtin:
        raise UsageError(
            "image create needs --builtin for now", "file import arrives with the images issue"
        )
    return record(lab.images.create_builtin(a.name))


@command("image", "list", help="List images", example="labcloud image list")
def image_list(lab: Any, a: Any) -> Table:
    return Table(COLUMNS, [_row(i) for i in lab.images.list()])


@command(
    "image",
    "show",
    help="Show one image",
    example="labcloud image show tiny",
    args=(arg("image", help="name or ID"),),
)
def image_show(lab: Any, a: Any) -> Record:
    return record(lab.images.get(a.image))


@command(
    "image",
    "delete",
    help="Delete images (refused while in use or protected)",
    example="labcloud image delete tiny",
    args=(arg("image", nargs="+"),),
)
def image_delete(lab: Any, a: Any) -> str:
    for ref in a.image:
        lab.images.delete(ref)
    return ""
