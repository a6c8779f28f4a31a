"""server create|list|show|start|stop|reboot|pause|unpause|suspend|resume|delete"""

from __future__ import annotations

from typing import Any

from labcloud.cli.output import Record, Table
from labcloud.cli.progress import Progress
from labcloud.cli.registry import arg, command

COLUMNS = ("ID", "Name", "Status", "Task State", "Power State", "Image", "Flavor")


def _image_names(lab: Any) -> dict[str, str]:
    return {i.id: i.name for i in lab.images.list()}


def _row(s: Any, images: dict[str, str]) -> tuple[Any, ...]:
    return (
        s.id,
        s.name,
        s.status,
        s.task_state or "",
        s.power_state,
        images.get(s.image_id or "", s.image_id or ""),
        s.flavor_name,
    )


def record(lab: Any, s: Any) -> Record:
    return Record(
        {
            "id": s.id,
            "name": s.name,
            "status": s.status,
            "task_state": s.task_state,
            "power_state": s.power_state,
            "image": _image_names(lab).get(s.image_id or "", s.image_id),
            "flavor": s.flavor_name,
            "vcpus": s.vcpus,
            "ram": s.ram,
            "disk": s.disk,
            "node": s.node,
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
        arg("--image", required=True, help="image name or ID"),
        arg("--flavor", required=True, help="flavor name or ID"),
        _WAIT,
        _TIMEOUT,
    ),
)
def server_create(lab: Any, a: Any) -> Record:
    progress = Progress(f"creating {a.name}", enabled=a.wait)
    try:
        server = lab.compute.create(
            a.name, a.image, a.flavor, timeout=a.timeout or 300.0, progress=progress
        )
    finally:
        progress.done()
    return record(lab, server)


@command("server", "list", help="List servers", example="labcloud server list -f json")
def server_list(lab: Any, a: Any) -> Table:
    images = _image_names(lab)
    return Table(COLUMNS, [_row(s, images) for s in lab.compute.list()])


@command(
    "server",
    "show",
    help="Show one server",
    example="labcloud server show web1",
    args=(arg("server", help="name or ID"),),
)
def server_show(lab: Any, a: Any) -> Record:
    return record(lab, lab.compute.get(a.server))


def _each(lab: Any, a: Any, action: str, **kw: Any) -> str:
    for ref in a.server:
        getattr(lab.compute, action)(ref, **kw)
    return ""


@command(
    "server",
    "start",
    help="Start stopped servers",
    example="labcloud server start web1",
    args=(_SERVERS, _WAIT),
)
def server_start(lab: Any, a: Any) -> str:
    return _each(lab, a, "start")


@command(
    "server",
    "stop",
    help="Stop servers: ACPI shutdown, powered off after the timeout",
    example="labcloud server stop web1 --timeout 10",
    args=(_SERVERS, _WAIT, _TIMEOUT),
)
def server_stop(lab: Any, a: Any) -> str:
    return _each(lab, a, "stop", timeout=a.timeout)


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
def server_reboot(lab: Any, a: Any) -> str:
    return _each(lab, a, "reboot", hard=a.hard, timeout=a.timeout)


@command(
    "server",
    "pause",
    help="Pause servers (vCPUs stop, memory stays)",
    example="labcloud server pause web1",
    args=(_SERVERS,),
)
def server_pause(lab: Any, a: Any) -> str:
    return _each(lab, a, "pause")


@command(
    "server",
    "unpause",
    help="Unpause paused servers",
    example="labcloud server unpause web1",
    args=(_SERVERS,),
)
def server_unpause(lab: Any, a: Any) -> str:
    return _each(lab, a, "unpause")


@command(
    "server",
    "suspend",
    help="Suspend servers (memory saved to disk)",
    example="labcloud server suspend web1",
    args=(_SERVERS, _WAIT),
)
def server_suspend(lab: Any, a: Any) -> str:
    return _each(lab, a, "suspend")


@command(
    "server",
    "resume",
    help="Resume suspended servers",
    example="labcloud server resume web1",
    args=(_SERVERS, _WAIT),
)
def server_resume(lab: Any, a: Any) -> str:
    return _each(lab, a, "resume")


@command(
    "server",
    "delete",
    help="Delete servers and their disks",
    example="labcloud server delete web1",
    args=(_SERVERS, _WAIT),
)
def server_delete(lab: Any, a: Any) -> str:
    return _each(lab, a, "delete")
