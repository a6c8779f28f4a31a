"""The TUI's rebindable actions, by id, and the shape of a key: what lab.toml's [tui.keys]
may name. Plain data, so the config is checked without loading Textual; a unit test
keeps this list equal to the ids the screens bind."""

from __future__ import annotations

import re

# In the order of the number keys 1..9, 0 (only those ten have a go.* action).
VIEWS = (
    "overview", "servers", "images", "flavors", "networks", "volumes", "keypairs",
    "secgroups", "floatingips", "projects", "events", "routers", "topology",
)  # fmt: skip

ACTIONS = frozenset(
    {
        "app.command", "app.filter", "app.help", "app.back", "app.refresh", "app.quit",
        "resource.create", "resource.delete",
        "server.start", "server.stop", "server.reboot", "server.pause", "server.console",
        "volume.attach", "volume.detach", "floatingip.associate", "floatingip.disassociate",
        "router.add_subnet", "router.remove_subnet", "router.set_gateway",
        "router.clear_gateway", "rule.delete",
        "instance.back", "instance.log", "instance.serial", "instance.details",
        "confirm.no", "confirm.yes", "help.close", "typename.cancel",
        "form.cancel", "form.submit", "bar.complete",
        *(f"go.{view}" for view in VIEWS[:10]),
    }
)  # fmt: skip

# One key: modifiers then a Textual key name (`f5`, `question_mark`) or one character.
_KEY = re.compile(r"^((ctrl|shift|alt|super|meta)\+)*([a-z][a-z0-9_]*|[^\s,+])$")


def check_keys(text: str) -> str:
    """`x` or `ctrl+x,f5`: raises ValueError naming the bad key."""
    keys = [k.strip() for k in text.split(",")]
    for key in keys:
        if not _KEY.fullmatch(key):
            raise ValueError(f"{key!r} is not a key (e.g. x, ctrl+x, f5, question_mark)")
    return ",".join(keys)


def check_action(action: str) -> str:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; `?` in the TUI lists them with their ids")
    return action
