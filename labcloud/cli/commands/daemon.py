"""daemon status|stop: the warm fork server that runs each command (labcloud/cli/forkserver.py)"""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING, Any

from labcloud.cli import forkserver_protocol as proto
from labcloud.cli.output import Record
from labcloud.cli.registry import command

if TYPE_CHECKING:
    from labcloud.lab import Lab


@command(
    "daemon",
    "status",
    help="Show whether commands run in the warm fork server",
    example="labcloud daemon status",
    needs_lab=False,
)
def daemon_status(lab: Lab, a: Any) -> Record:
    disabled = bool(os.environ.get(proto.DISABLE_ENV))
    return Record(
        {
            "running": proto.served_by is not None,
            "pid": proto.served_by,
            "socket": str(proto.socket_path()),
            "disabled": f"{proto.DISABLE_ENV} is set" if disabled else "no",
        }
    )


@command(
    "daemon",
    "stop",
    help="Stop the fork server once its running commands finish (the next command starts one)",
    example="labcloud daemon stop",
    needs_lab=False,
)
def daemon_stop(lab: Lab, a: Any) -> str:
    if proto.served_by is None:
        return "no fork server runs this user's commands here"
    os.kill(proto.served_by, signal.SIGTERM)  # our own parent: the server that forked us
    return f"fork server {proto.served_by} stops after this command"
