"""server migrate|evacuate: move servers between nodes"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labcloud.cli.commands.server import record
from labcloud.cli.output import Record
from labcloud.cli.registry import arg, command

if TYPE_CHECKING:
    from labcloud.lab import Lab


@command(
    "server",
    "migrate",
    help="Move a server to another node: cold (stopped, moved, started) or --live",
    example="labcloud server migrate web1 --live --node node2",
    args=(
        arg("server", help="name or ID"),
        arg("--node", help="the destination (default: the scheduler's choice)"),
        arg("--live", action="store_true", help="keep the guest running while it moves"),
    ),
)
def server_migrate(lab: Lab, a: Any) -> Record:
    return record(lab, lab.migration.migrate(a.server, a.node, live=a.live))


@command(
    "server",
    "evacuate",
    help="Start a server whose node is down on another node, from the same disk",
    example="labcloud server evacuate web1",
    args=(arg("server", help="name or ID"), arg("--node", help="the destination")),
)
def server_evacuate(lab: Lab, a: Any) -> Record:
    return record(lab, lab.migration.evacuate(a.server, a.node))
