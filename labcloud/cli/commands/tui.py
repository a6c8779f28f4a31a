"""tui: the terminal UI (also what `labcloud` alone opens on a terminal)"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from labcloud.cli.registry import arg, command
from labcloud.errors import UsageError

if TYPE_CHECKING:
    from labcloud.lab import Lab

VIEWS = ("overview", "servers", "images", "networks", "volumes", "topology", "...")


@command(
    "tui",
    help="Open the terminal UI: Horizon in a terminal, driven like k9s",
    example="labcloud tui --project demo",
    args=(arg("view", nargs="?", default="", help=f"start on this view: {', '.join(VIEWS)}"),),
)
def tui(lab: Lab, a: Any) -> str:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("the TUI needs a terminal", "run it in one, or use the commands")
    # Imported only now: the headless commands never load Textual (fast start-up).
    from labcloud.screens.app import LabApp

    LabApp(lab, start=a.view).run()
    return ""
