"""[tui.keys] in lab.toml: rebinding by action id, checked when the lab file is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from labcloud.config import parse_config
from labcloud.errors import ConfigError


def parse(text: str) -> object:
    return parse_config(text.encode(), Path("lab.toml"))


def test_keys_are_read_by_action_id() -> None:
    config = parse('[tui.keys]\n"server.stop" = "x"\n"go.flavors" = "f, ctrl+f"\n')
    assert dict(config.tui.keys) == {"server.stop": "x", "go.flavors": "f,ctrl+f"}


def test_an_unknown_action_names_its_key_path() -> None:
    with pytest.raises(ConfigError) as exc:
        parse('[tui.keys]\n"server.stpo" = "x"\n')
    assert str(exc.value.one_line()).startswith(
        "lab.toml: tui.keys.server.stpo: unknown action 'server.stpo'"
    )


def test_a_bad_key_names_its_key_path() -> None:
    with pytest.raises(ConfigError) as exc:
        parse('[tui.keys]\n"server.stop" = "ctrl+ x"\n')
    assert "lab.toml: tui.keys.server.stop: 'ctrl+ x' is not a key" in exc.value.one_line()


def test_every_binding_the_screens_make_is_a_known_action() -> None:
    from labcloud.screens import app, forms, instance, modals, resource, serial  # noqa: F401
    from labcloud.screens.app import MainScreen, ordered_views
    from labcloud.screens.command_bar import CommandBar

    from labcloud.tui_keys import ACTIONS, VIEWS

    classes = [MainScreen, CommandBar, forms.FormScreen, instance.InstanceScreen]
    classes += [modals.ConfirmScreen, modals.HelpScreen, modals.TypeNameScreen]
    classes += [resource.ResourceView, *ordered_views()]
    bound = {b.id for cls in classes for b in cls.BINDINGS if b.id}
    assert bound == ACTIONS
    assert tuple(v.view_name for v in ordered_views()) == VIEWS
