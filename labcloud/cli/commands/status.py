"""status (the no-argument overview), init, doctor, event list"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from labcloud.cli.output import Record, Table
from labcloud.cli.registry import arg, command

if TYPE_CHECKING:
    from labcloud.lab import Lab


@command(
    "status", help="Overview of the lab (what `labcloud` alone shows)", example="labcloud status"
)
def status(lab: Lab, a: Any) -> Record:
    site = lab.config.site
    servers = lab.compute.list()
    by_status = Counter(s.status for s in servers)
    return Record(
        {
            "lab_file": str(lab.config.source),
            "state_dir": str(site.state_dir),
            "libvirt_uri": site.libvirt_uri,
            "virt_type": f"{site.virt_type} -> {lab.ctx.agent.virt_type(site.virt_type)}",
            "project": lab.project_name,
            "servers": ", ".join(f"{n} {st}" for st, n in sorted(by_status.items())) or "none",
            "images": len(lab.images.list()),
            "flavors": len(lab.flavors.list()),
        }
    )


@command(
    "init",
    help="Create the state store and seed it from lab.toml (idempotent)",
    example="labcloud init",
)
def init(lab: Lab, a: Any) -> Record:
    return Record(lab.init() | {"state_dir": str(lab.config.site.state_dir)})


@command(
    "doctor",
    help="Find drift and interrupted operations; --repair fixes them",
    example="labcloud doctor --repair",
    args=(arg("--repair", action="store_true", help="finish, roll back or clean up"),),
)
def doctor(lab: Lab, a: Any) -> Table:
    findings = lab.doctor.check(repair=a.repair)
    return Table(
        ("Kind", "Resource", "Detail", "Repaired"),
        [(f.kind, f.resource, f.detail, f.repaired) for f in findings],
    )


@command(
    "event",
    "list",
    help="Recent events, newest first",
    example="labcloud event list",
    args=(arg("--limit", type=int, default=20),),
)
def event_list(lab: Lab, a: Any) -> Table:
    return Table(
        ("At", "Type", "Name", "Message"),
        [(e.at, e.resource_type, e.resource_name, e.message) for e in lab.identity.events(a.limit)],
    )
