"""completion bash|zsh"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labcloud.cli import completion
from labcloud.cli.registry import arg, command

if TYPE_CHECKING:
    from labcloud.lab import Lab


@command(
    "completion",
    help="Print a shell completion script (bash or zsh)",
    example="source <(labcloud completion bash)",
    args=(arg("shell", choices=("bash", "zsh")),),
    needs_lab=False,
)
def completion_script(_lab: Lab, a: Any) -> str:
    return completion.bash() if a.shell == "bash" else completion.zsh()
