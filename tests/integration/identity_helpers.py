"""Unix accounts inside a harness node, for stories that act as several users."""

from __future__ import annotations

import shutil

from tests.harness.node import Node


def add_unix_users(node: Node, names: tuple[str, ...]) -> None:
    """Accounts that exist only inside the node: copies of passwd and group, bind-mounted."""
    for table, line in (
        ("passwd", "{name}:x:{uid}:{uid}::/nonexistent:/usr/sbin/nologin\n"),
        ("group", "{name}:x:{uid}:\n"),
    ):
        private = node.workdir / table
        shutil.copyfile(f"/etc/{table}", private)
        with private.open("a") as f:
            for uid, name in enumerate(names, start=3001):
                f.write(line.format(name=name, uid=uid))
        node.run(["mount", "--bind", str(private), f"/etc/{table}"])
