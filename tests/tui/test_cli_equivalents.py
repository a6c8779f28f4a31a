"""Every action the TUI offers on a resource has a CLI command: a script can do what a
user does with a key."""

from __future__ import annotations

import labcloud.screens.views as views_pkg
from textual.binding import Binding

import labcloud.cli.commands  # noqa: F401 - registers every command
from labcloud.cli.registry import COMMANDS

# A TUI key that maps to CLI words other than its binding id says.
SPECIAL = {
    "server.console": [("console", "log")],
    "server.pause": [("server", "pause"), ("server", "unpause")],  # a toggle
    "volume.attach": [("server", "add", "volume")],
    "volume.detach": [("server", "remove", "volume")],
    "floatingip.associate": [("server", "add", "floating", "ip")],
    "floatingip.disassociate": [("server", "remove", "floating", "ip")],
    "router.add_subnet": [("router", "add", "subnet")],
    "router.remove_subnet": [("router", "remove", "subnet")],
    "router.set_gateway": [("router", "set")],
    "router.clear_gateway": [("router", "set")],  # --no-external-gateway
    "rule.delete": [("security", "group", "rule", "delete")],
}
NAVIGATION = ("app.", "go.", "bar.", "confirm.", "help.")


def _bindings() -> list[Binding]:
    import importlib
    import pkgutil

    found: list[Binding] = []
    for mod in pkgutil.iter_modules(views_pkg.__path__):
        module = importlib.import_module(f"{views_pkg.__name__}.{mod.name}")
        for obj in vars(module).values():
            for b in getattr(obj, "BINDINGS", []) if isinstance(obj, type) else []:
                if isinstance(b, Binding) and b.id and not b.id.startswith(NAVIGATION):
                    found.append(b)
    return found


def test_every_views_create_and_delete_has_a_cli_command() -> None:
    """`c` and Ctrl+D are generic keys: each view that offers them names its noun."""
    from labcloud.screens.resource import REGISTRY, ResourceView

    _bindings()  # imports every view module, which registers it
    offered = 0
    for view in REGISTRY.values():
        for verb, method in (("create", "create_form"), ("delete", "delete")):
            if getattr(view, method) is not getattr(ResourceView, method):
                offered += 1
                words = (*view.noun.split(), verb)
                assert words in COMMANDS, f"{view.view_name}: no `labcloud {' '.join(words)}`"
    assert offered >= 10  # the walk found the views' forms and deletes


def test_every_tui_action_has_a_cli_command() -> None:
    actions = {b.id for b in _bindings()} - {"resource.create", "resource.delete"}
    assert "server.start" in actions  # the walk found the views' keys
    for action in sorted(actions):
        assert action is not None
        wanted = SPECIAL.get(action, [tuple(action.split("."))])
        for words in wanted:
            assert words in COMMANDS, f"TUI action {action} has no `labcloud {' '.join(words)}`"
