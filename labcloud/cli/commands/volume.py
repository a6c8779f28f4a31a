"""volume create|list|show|set|extend|delete, volume snapshot ..., volume type list,
server add volume, server remove volume"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from labcloud.cli.each import each
from labcloud.cli.output import Record, Table
from labcloud.cli.registry import arg, command

if TYPE_CHECKING:
    from labcloud.lab import Lab

COLUMNS = ("ID", "Name", "Status", "Size", "Type", "Bootable", "Attached to")
SNAPSHOT_COLUMNS = ("ID", "Name", "Volume", "Status", "Size")


def _attached(v: Any, servers: dict[str, str]) -> str:
    if not v.server_id:
        return ""
    return f"Attached to {servers.get(v.server_id, v.server_id)} on /dev/{v.device}"


def record(lab: Lab, v: Any) -> Record:
    servers = lab.volumes.server_names()
    return Record(
        {
            "id": v.id,
            "name": v.name,
            "status": v.status,
            "size": v.size,
            "type": v.volume_type,
            "bootable": v.bootable,
            "attachments": _attached(v, servers),
            "device": f"/dev/{v.device}" if v.device else "",
            "delete_on_termination": v.delete_on_termination,
            "description": v.description,
            "snapshot_id": v.snapshot_id,
            "source_volid": v.source_volid,
            "volume_image_metadata": json.loads(v.volume_image_metadata or "{}"),
            "location": v.location,
            "project_id": v.project_id,
            "created_at": v.created_at,
            "updated_at": v.updated_at,
        }
    )


def snapshot_record(lab: Lab, snap: Any) -> Record:
    return Record(
        {
            "id": snap.id,
            "name": snap.name,
            "status": snap.status,
            "size": snap.size,
            "volume_id": snap.volume_id,
            "description": snap.description,
            "location": snap.location,
            "project_id": snap.project_id,
            "created_at": snap.created_at,
            "updated_at": snap.updated_at,
        }
    )


_BOOTABLE = (
    arg("--bootable", dest="bootable", action="store_const", const=True, default=None),
    arg("--non-bootable", dest="bootable", action="store_const", const=False),
)


@command(
    "volume",
    "create",
    help="Create a volume: blank, or from an image, a snapshot or another volume",
    example="labcloud volume create data1 --size 1",
    args=(
        arg("name"),
        arg("--size", type=int, help="size in GB (at least the source's size)"),
        arg("--image", help="copy this image into the volume"),
        arg("--snapshot", help="copy this volume snapshot"),
        arg("--source", help="clone this volume"),
        arg("--type", dest="volume_type", help="volume type: a [volume_backends] name"),
        arg("--description", default=""),
        *_BOOTABLE,
    ),
)
def volume_create(lab: Lab, a: Any) -> Record:
    vol = lab.volumes.create(
        a.name,
        a.size,
        image=a.image,
        snapshot=a.snapshot,
        source=a.source,
        volume_type=a.volume_type,
        description=a.description,
        bootable=a.bootable,
    )
    return record(lab, vol)


@command("volume", "list", help="List volumes", example="labcloud volume list")
def volume_list(lab: Lab, a: Any) -> Table:
    servers = lab.volumes.server_names()
    rows = [
        (v.id, v.name, v.status, v.size, v.volume_type, v.bootable, _attached(v, servers))
        for v in lab.volumes.list()
    ]
    return Table(COLUMNS, rows)


@command(
    "volume",
    "show",
    help="Show one volume",
    example="labcloud volume show data1",
    args=(arg("volume", help="name or ID"),),
)
def volume_show(lab: Lab, a: Any) -> Record:
    return record(lab, lab.volumes.get(a.volume))


@command(
    "volume",
    "set",
    help="Change a volume's name, description or bootable flag (--size extends it)",
    example="labcloud volume set data1 --bootable",
    args=(
        arg("volume"),
        arg("--name"),
        arg("--description"),
        arg("--size", type=int, help="extend to this size in GB"),
        *_BOOTABLE,
    ),
)
def volume_set(lab: Lab, a: Any) -> str:
    if a.size is not None:
        lab.volumes.extend(a.volume, a.size)
    if a.name is not None or a.description is not None or a.bootable is not None:
        lab.volumes.set(a.volume, name=a.name, description=a.description, bootable=a.bootable)
    return ""


@command(
    "volume",
    "extend",
    help="Grow a volume; an attached one grows live where its backend allows",
    example="labcloud volume extend data1 --size 2",
    args=(arg("volume"), arg("--size", type=int, required=True, help="new size in GB")),
)
def volume_extend(lab: Lab, a: Any) -> Record:
    return record(lab, lab.volumes.extend(a.volume, a.size))


@command(
    "volume",
    "delete",
    help="Delete volumes (refused while attached or with snapshots)",
    example="labcloud volume delete data1",
    args=(arg("volume", nargs="+"),),
)
def volume_delete(lab: Lab, a: Any) -> str:
    return each(a.volume, lab.volumes.delete)


@command("volume", "type", "list", help="List volume types", example="labcloud volume type list")
def volume_type_list(lab: Lab, a: Any) -> Table:
    return Table(("Name", "Backend", "Is Default"), list(lab.volumes.types()))


@command(
    "volume",
    "snapshot",
    "create",
    help="Snapshot a volume (an attached one needs --force)",
    example="labcloud volume snapshot create snap1 --volume data1",
    args=(
        arg("name"),
        arg("--volume", required=True),
        arg("--force", action="store_true", help="snapshot even while attached"),
        arg("--description", default=""),
    ),
)
def snapshot_create(lab: Lab, a: Any) -> Record:
    snap = lab.volumes.create_snapshot(a.name, a.volume, force=a.force, description=a.description)
    return snapshot_record(lab, snap)


@command(
    "volume",
    "snapshot",
    "list",
    help="List volume snapshots",
    example="labcloud volume snapshot list",
    args=(arg("--volume", help="only this volume's"),),
)
def snapshot_list(lab: Lab, a: Any) -> Table:
    names = {v.id: v.name for v in lab.volumes.list()}
    rows = [
        (s.id, s.name, names.get(s.volume_id, s.volume_id), s.status, s.size)
        for s in lab.volumes.list_snapshots(a.volume)
    ]
    return Table(SNAPSHOT_COLUMNS, rows)


@command(
    "volume",
    "snapshot",
    "show",
    help="Show one volume snapshot",
    example="labcloud volume snapshot show snap1",
    args=(arg("snapshot"),),
)
def snapshot_show(lab: Lab, a: Any) -> Record:
    return snapshot_record(lab, lab.volumes.get_snapshot(a.snapshot))


@command(
    "volume",
    "snapshot",
    "delete",
    help="Delete volume snapshots",
    example="labcloud volume snapshot delete snap1",
    args=(arg("snapshot", nargs="+"),),
)
def snapshot_delete(lab: Lab, a: Any) -> str:
    return each(a.snapshot, lab.volumes.delete_snapshot)


@command(
    "server",
    "add",
    "volume",
    help="Attach a volume to a server (live when it runs)",
    example="labcloud server add volume web1 data1 --device vdb",
    args=(arg("server"), arg("volume"), arg("--device", help="vdb..vdz; the first free one")),
)
def server_add_volume(lab: Lab, a: Any) -> Record:
    return record(lab, lab.volumes.attach(a.server, a.volume, a.device))


@command(
    "server",
    "remove",
    "volume",
    help="Detach a volume from a server; waits for a running guest to release it",
    example="labcloud server remove volume web1 data1",
    args=(
        arg("server"),
        arg("volume"),
        arg("--timeout", type=float, default=60.0, help="seconds to wait for the guest"),
    ),
)
def server_remove_volume(lab: Lab, a: Any) -> str:
    lab.volumes.detach(a.server, a.volume, a.timeout)
    return ""
