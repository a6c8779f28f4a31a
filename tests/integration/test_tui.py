"""The TUI's pilot stories (tests/tui/in_node) run inside the harness node, on its libvirtd."""

from __future__ import annotations

import sys

from tests.harness import Node


def test_tui_stories_on_a_real_lab(lab: Node) -> None:
    out = lab.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/tui/in_node"],
        env={"LABCLOUD_TUI_IN_NODE": "1"},
        check=False,
        timeout=1500,
    )
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    assert " passed" in out.stdout and "skipped" not in out.stdout, out.stdout[-2000:]
