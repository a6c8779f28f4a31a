"""server create|list|show|start|stop|reboot|pause|unpause|suspend|resume|delete"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labcloud.cli.each import each
from labcloud.cli.inputs import parse_pairs, read_user_file
from labcloud.cli.output import Record, Table
from labcloud.cli.progress import Progress
from labcloud.cli.registry import arg, command
from labcloud.errors import UsageError
from labcloud.services.core import CreateRequest

if TYPE_CHECKING:
    from labcloud.lab import Lab

COLUMNS = ("ID", "Name", "Status", "Task State", "Power State", "Networks", "Image", "Flavor")


def _image_names(lab: Lab) -> dict[str, str]:
    return {i.id: i.name for i in lab.images.list()}


def _row(s: Any, images: dict[str, str], addresses: dict[str, str]) -> tuple[Any, ...]:
    return (
        s.id,
        s.name,
        s.status,
        s.task_state or "",
        s.power_state,
        addresses.get(s.id, ""),
        images.get(s.image_id or "", s.image_id or ""),
        s.flavor_name,
    )


def record(lab: Lab, s: Any) -> Record:
    return Record(
        {
            "id": s.id,
            "name": s.name,
            "status": s.status,
            "task_state": s.task_state,
            "power_state": s.power_state,
            "addresses": lab.network.server_addresses([s.id]).get(s.id, ""),
            "image": _image_names(lab).get(s.image_id or "", s.image_id),
            "flavor": s.flavor_name,
            "vcpus": s.vcpus,
            "ram": s.ram,
            "disk": s.disk,
            "node": s.node,
            "placement": lab.placement.reason(s.id),
            "domain": s.domain_name,
            "fault": s.fault,
            "project_id": s.project_id,
            "created_at": s.created_at,
            "launched_at": s.launched_at,
            "updated_at": s.updated_at,
        }
    )


_WAIT = arg("--wait", action="store_true", help="wait for the action to finish, with progress")
_TIMEOUT = arg("--timeout", type=float, default=None, help="seconds before giving up")
_SERVERS = arg("server", nargs="+", help="names or IDs")


@command(
    "server",
    "create",
    help="Create and boot a server",
    example="labcloud server create web1 --image tiny --flavor m1.tiny --wait",
    args=(
        arg("name"),
        arg("--image", help="image name or ID"),
        arg("--flavor", required=True, help="flavor name or ID"),
        arg("--network", action="append", default=[], help="a NIC on this network (repeatable)"),
        arg("--port", action="append", default=[], help="a NIC on this port (repeatable)"),
        arg(
            "--nic",
            action="append",
            default=[],
            metavar="net-id=NET,v4-fixed-ip=IP|port-id=PORT",
            help="a NIC, openstack style (repeatable)",
        ),
        arg("--security-group", action="append", default=[], help="(repeatable)"),
        arg("--volume", help="boot from this existing volume"),
        arg("--boot-from-image", help="boot from a new volume made from this image"),
        arg("--boot-volume-size", type=int, help="size in GB of the new boot volume"),
        arg("--key-name", help="keypair whose public key the server gets"),
        arg("--user-data", metavar="FILE", help="cloud-init user-data file"),
        arg("--node", help="(admin) run it on this node, skipping the scheduler's weighing"),
        arg("--availability-zone", help="only nodes in this zone"),
        _WAIT,
        _TIMEOUT,
    ),
)
def server_create(lab: Lab, a: Any) -> Record:
    if a.boot_from_image:
        if a.image:
            raise UsageError("give --image or --boot-from-image, not both")
        if not a.boot_volume_size:
            raise UsageError("--boot-from-image needs --boot-volume-size GB")
    elif a.boot_volume_size is not None:
        raise UsageError("--boot-volume-size goes with --boot-from-image")
    image = a.image or a.boot_from_image
    if not image and not a.volume:
        raise UsageError("give --image, --volume or --boot-from-image")
    request = CreateRequest(
        networks=a.network,
        ports=a.port,
        nics=[parse_pairs(n, "--nic") for n in a.nic],
        security_groups=a.security_group,
        boot_volume=a.volume,
        boot_volume_size=a.boot_volume_size,
        key_name=a.key_name,
        user_data=read_user_file(a.user_data, "--user-data") if a.user_data else None,
        node=a.node,
        availability_zone=a.availability_zone,
    )
    progress = Progress(f"creating {a.name}", enabled=a.wait)
    try:
        server = lab.compute.create(
            a.name,
            image,
            a.flavor,
            request=request,
            timeout=a.timeout or 300.0,
            progress=progress,
        )
    finally:
        progress.done()
    return record(lab, server)


@command("server", "list", help="List servers", example="labcloud server list -f json")
def server_list(lab: Lab, a: Any) -> Table:
    images = _image_names(lab)
    servers = lab.compute.list()
    addresses = lab.network.server_addresses([s.id for s in servers])
    return Table(COLUMNS, [_row(s, images, addresses) for s in servers])


@command(
    "server",
    "show",
    help="Show one server",
    example="labcloud server show web1",
    args=(arg("server", help="name or ID"),),
)
def server_show(lab: Lab, a: Any) -> Record:
    return record(lab, lab.compute.get(a.server))


@command(
    "server",
    "start",
    help="Start stopped servers",
    example="labcloud server start web1",
    args=(_SERVERS, _WAIT),
)
def server_start(lab: Lab, a: Any) -> str:
    return each(a.server, lab.compute.start)


@command(
    "server",
    "stop",
    help="Stop servers: ACPI shutdown, powered off after the timeout",
    example="labcloud server stop web1 --timeout 10",
    args=(_SERVERS, _WAIT, _TIMEOUT),
)
def server_stop(lab: Lab, a: Any) -> str:
    return each(a.server, lab.compute.stop, timeout=a.timeout)


@command(
    "server",
    "reboot",
    help="Reboot servers (--soft: clean shutdown, --hard: power cycle)",
    example="labcloud server reboot --hard web1",
    args=(
        _SERVERS,
        arg("--hard", action="store_true"),
        arg("--soft", dest="hard", action="store_false"),
        _WAIT,
        _TIMEOUT,
    ),
)
def server_reboot(lab: Lab, a: Any) -> str:
    return each(a.server, lab.compute.reboot, hard=a.hard, timeout=a.timeout)


@command(
    "server",
    "pause",
    help="Pause servers (vCPUs stop, memory stays)",
    example="labcloud server pause web1",
    args=(_SERVERS,),
)
def server_pause(lab: Lab, a: Any) -> str:
    return each(a.server, lab.compute.pause)


@command(
    "server",
    "unpause",
    help="Unpause paused servers",
    example="labcloud server unpause web1",
    args=(_SERVERS,),
)
def server_unpause(lab: Lab, a: Any) -> str:
    return each(a.server, lab.compute.unpause)


@command(
    "server",
    "suspend",
    help="Suspend servers (memory saved to disk)",
    example="labcloud server suspend web1",
    args=(_SERVERS, _WAIT),
)
def server_suspend(lab: Lab, a: Any) -> str:
    return each(a.server, lab.compute.suspend)


@command(
    "server",
    "resume",
    help="Resume suspended servers",
    example="labcloud server resume web1",
    args=(_SERVERS, _WAIT),
)
def server_resume(lab: Lab, a: Any) -> str:
    return each(a.server, lab.compute.resume)


@command(
    "server",
    "delete",
    help="Delete servers and their disks",
    example="labcloud server delete web1",
    args=(_SERVERS, _WAIT),
)
def server_delete(lab: Lab, a: Any) -> str:
    return each(a.server, lab.compute.delete)


@command(
    "server",
    "resize",
    help="Give a server another flavor (cold: stop, redefine, grow the disk, start)",
    example="labcloud server resize web1 --flavor m1.tiny --wait",
    args=(
        arg("server", help="name or ID"),
        arg("--flavor", required=True, help="the new flavor"),
        _WAIT,
        arg("--timeout", type=float, help="seconds for a clean shutdown before power-off"),
    ),
)
def server_resize(lab: Lab, a: Any) -> Record:
    return record(lab, lab.compute.resize(a.server, a.flavor, timeout=a.timeout))
