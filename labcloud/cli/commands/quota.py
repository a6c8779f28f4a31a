"""quota show|set, and usage (what a project holds now)"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from labcloud.cli.output import Record, Table
from labcloud.cli.registry import arg, command
from labcloud.services.core import COUNTERS, RESOURCES

if TYPE_CHECKING:
    from labcloud.lab import Lab


def _limit(value: int) -> str | int:
    return "unlimited" if value < 0 else value


def _table(lines: Any) -> Table:
    return Table(
        ("Resource", "Limit", "In use", "Counts"),
        [
            (
                q.resource,
                _limit(q.limit),
                q.in_use,
                COUNTERS[q.resource][0] + (" (OVER)" if q.over else ""),
            )
            for q in lines
        ],
    )


@command(
    "quota",
    "show",
    help="A project's limits beside what it uses (default: the current project)",
    example="labcloud quota show demo",
    args=(arg("target", nargs="?", metavar="PROJECT"),),
)
def quota_show(lab: Lab, a: Any) -> Table:
    _, lines = lab.quotas.show(a.target)
    return _table(lines)


def _quota_int(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < -1:
        raise argparse.ArgumentTypeError(f"{value} must be -1 (unlimited) or at least 0")
    return value


@command(
    "quota",
    "set",
    help="Set a project's limits (admins); -1 is unlimited, below usage is allowed and reported",
    example="labcloud quota set demo --instances 5 --cores 8 --floating-ips 2",
    args=(
        arg("target", metavar="PROJECT"),
        *(
            arg(f"--{name.replace('_', '-')}", dest=f"q_{name}", type=_quota_int, metavar="N")
            for name in RESOURCES
        ),
    ),
)
def quota_set(lab: Lab, a: Any) -> Table | str:
    new = {name: getattr(a, f"q_{name}") for name in RESOURCES}
    new = {name: value for name, value in new.items() if value is not None}
    if not new:
        return "nothing to set: give at least one of " + ", ".join(
            "--" + n.replace("_", "-") for n in RESOURCES
        )
    _, lines = lab.quotas.set(a.target, new)
    over = [q for q in lines if q.over]
    if over:
        for q in over:
            print(
                f"warning: {q.resource} is now limited to {q.limit} but {q.in_use} are in use; "
                "nothing is removed, new ones are refused",
                file=sys.stderr,
            )
    return _table(lines)


@command(
    "usage",
    help="What a project holds now: servers, vCPUs, RAM, disk, volumes, floating IPs",
    example="labcloud usage demo",
    args=(arg("target", nargs="?", metavar="PROJECT"),),
)
def usage(lab: Lab, a: Any) -> Record:
    project, held = lab.quotas.overview(a.target)
    return Record({"project": project.name} | held)
