"""console log"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labcloud.cli.registry import arg, command

if TYPE_CHECKING:
    from labcloud.lab import Lab


@command(
    "console",
    "log",
    help="Show a server's serial console log",
    example="labcloud console log web1 --lines 20",
    args=(
        arg("server", help="name or ID"),
        arg("--lines", type=int, default=0, help="only the last N lines"),
        arg("--wait-for", metavar="REGEX", help="first wait until a console line matches REGEX"),
        arg("--timeout", type=float, default=120.0),
    ),
)
def console_log(lab: Lab, a: Any) -> str:
    if a.wait_for:
        lab.compute.wait_console(a.server, a.wait_for, a.timeout)
    return lab.compute.console_log(a.server, max(a.lines, 0))
