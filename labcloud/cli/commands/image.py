"""image create|list|show|set|save|delete, and server image create (a snapshot)"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from labcloud.cli.output import Record, Table
from labcloud.cli.progress import Progress
from labcloud.cli.registry import arg, command
from labcloud.errors import UsageError

if TYPE_CHECKING:
    from labcloud.lab import Lab

MIB = 1024 * 1024
DISK_FORMATS = ("auto", "qcow2", "raw", "iso", "vmdk", "vdi", "vhd", "vhdx", "aki", "ari", "ami")
CONTAINER_FORMATS = ("bare", "aki", "ari", "ami")

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


def _bytes_progress(title: str) -> tuple[Progress, Any]:
    """A Progress line fed with (bytes done, bytes total); silent off a TTY."""
    bar = Progress(title)

    def update(done: int, total: int) -> None:
        pct = f" {100 * done // total}%" if total else ""
        bar(f"{done / MIB:.0f}/{total / MIB:.0f} MiB{pct}")

    return bar, update


def _properties(items: list[str]) -> dict[str, str]:
    """One KEY=VALUE per --property, as the openstack client takes it: the value may hold
    commas and '=' (a kernel command line does)."""
    props: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--property {item!r}: expected KEY=VALUE")
        props[key.strip()] = value
    return props


@command(
    "image",
    "create",
    help="Create an image from a file (--builtin: the tiny kernel+ramdisk image)",
    example="labcloud image create cirros --file cirros.qcow2 --disk-format qcow2",
    args=(
        arg("name"),
        arg("--file", help="the image file to import (its format is detected)"),
        arg(
            "--builtin",
            action="store_true",
            help="build the CirrOS-like tiny image from the host's kernel package and busybox",
        ),
        arg("--disk-format", default="auto", help=f"one of {', '.join(DISK_FORMATS)}"),
        arg("--container-format", help=f"one of {', '.join(CONTAINER_FORMATS)}"),
        arg("--kernel-id", help="the aki image an ami boots with"),
        arg("--ramdisk-id", help="the ari image an ami boots with"),
        arg("--property", action="append", default=[], metavar="KEY=VALUE"),
        arg("--min-disk", type=int, default=0, help="GiB of disk the image needs"),
        arg("--min-ram", type=int, default=0, help="MiB of RAM the image needs"),
        arg("--public", dest="visibility", action="store_const", const="public"),
        arg("--private", dest="visibility", action="store_const", const="private"),
        arg("--protected", action="store_true", help="refuse deletion until unprotected"),
    ),
)
def image_create(lab: Lab, a: Any) -> Record:
    if a.builtin:
        if a.file:
            raise UsageError("give --builtin or --file, not both")
        return record(lab.images.create_builtin(a.name))
    if not a.file:
        raise UsageError("image create needs --file PATH (or --builtin)")
    props = _properties(a.property)
    bar, update = _bytes_progress(f"importing {a.name}")
    try:
        image = lab.images.create(
            a.name,
            a.file,
            disk_format=a.disk_format,
            container_format=a.container_format,
            kernel_id=a.kernel_id,
            ramdisk_id=a.ramdisk_id,
            properties=props,
            min_disk=a.min_disk,
            min_ram=a.min_ram,
            visibility=a.visibility or "private",
            protected=a.protected,
            progress=update,
        )
    finally:
        bar.done()
    return record(image)


@command(
    "image",
    "set",
    help="Change an image's name, properties, limits, visibility or protection",
    example="labcloud image set cirros --property os_distro=cirros --protected",
    args=(
        arg("image", help="name or ID"),
        arg("--name", help="a new name"),
        arg("--property", action="append", default=[], metavar="KEY=VALUE"),
        arg("--remove-property", action="append", default=[], metavar="KEY"),
        arg("--min-disk", type=int),
        arg("--min-ram", type=int),
        arg("--public", dest="visibility", action="store_const", const="public"),
        arg("--private", dest="visibility", action="store_const", const="private"),
        arg("--protected", dest="protected", action="store_const", const=True),
        arg("--unprotected", dest="protected", action="store_const", const=False),
    ),
)
def image_set(lab: Lab, a: Any) -> str:
    lab.images.update(
        a.image,
        name=a.name,
        properties=_properties(a.property),
        remove_properties=a.remove_property,
        min_disk=a.min_disk,
        min_ram=a.min_ram,
        visibility=a.visibility,
        protected=a.protected,
    )
    return ""


@command(
    "image",
    "save",
    help="Write an image's file out (as stored: qcow2 or raw)",
    example="labcloud image save cirros --file cirros.qcow2",
    args=(arg("image", help="name or ID"), arg("--file", required=True, help="where to write")),
)
def image_save(lab: Lab, a: Any) -> str:
    bar, update = _bytes_progress(f"saving {a.image}")
    try:
        lab.images.save(a.image, a.file, progress=update)
    finally:
        bar.done()
    return ""


@command(
    "server",
    "image",
    "create",
    help="Make a new self-contained image from a server's disk, running or stopped",
    example="labcloud server image create web1 --name web1-snap",
    args=(arg("server", help="name or ID"), arg("--name", required=True, help="the image name")),
)
def server_image_create(lab: Lab, a: Any) -> Record:
    bar, update = _bytes_progress(f"snapshotting {a.server}")
    try:
        image = lab.images.snapshot(lab.compute, a.server, a.name, progress=update)
    finally:
        bar.done()
    return record(image)


@command("image", "list", help="List images", example="labcloud image list")
def image_list(lab: Lab, a: Any) -> Table:
    return Table(COLUMNS, [_row(i) for i in lab.images.list()])


@command(
    "image",
    "show",
    help="Show one image",
    example="labcloud image show tiny",
    args=(arg("image", help="name or ID"),),
)
def image_show(lab: Lab, a: Any) -> Record:
    return record(lab.images.get(a.image))


@command(
    "image",
    "delete",
    help="Delete images (refused while in use or protected)",
    example="labcloud image delete tiny",
    args=(arg("image", nargs="+"),),
)
def image_delete(lab: Lab, a: Any) -> str:
    for ref in a.image:
        lab.images.delete(ref)
    return ""
