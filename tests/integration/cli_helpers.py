"""Small steps many stories share: read a server's console, show a resource as a dict."""

from __future__ import annotations

import json

from tests.harness.node import Node

READY = r"labcloud-tiny: ready"


def console(lab: Node, server: str, pattern: str = READY) -> str:
    """The console log once `pattern` has appeared in it (two minutes at most)."""
    out = lab.labcloud("console", "log", server, "--wait-for", pattern, "--timeout", "120")
    return out.stdout


def show(lab: Node, kind: str, name: str) -> dict[str, object]:
    return dict(json.loads(lab.labcloud(kind, "show", name, "-f", "json").stdout))
