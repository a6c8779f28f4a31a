"""LabApp: Horizon in a terminal, driven like k9s.

One main area shows one view at a time (screens/views/); `:` goes to a view, `/` filters it,
`?` lists the keys, Esc goes back, 1..9 jump, Ctrl+P opens the command palette.
Every service call happens in a thread worker; the UI thread only draws.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from functools import partial
from typing import Any

import labcloud.screens.views  # noqa: F401 - registers every view
from labcloud.screens.command_bar import CommandBar, Unknown, resolve, split_project
from labcloud.screens.modals import HelpScreen
from labcloud.screens.resource import REGISTRY, ResourceView
from labcloud.screens.theme import LIGHT_CSS, THEMES
from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer, Input, Static
from textual.worker import get_current_worker

from labcloud.errors import LabError, UsageError

WIDE = 120  # columns from which the detail pane sits beside the table


def ordered_views() -> list[type[ResourceView]]:
    return sorted(REGISTRY.values(), key=lambda v: (v.order, v.view_name))


def _jump_bindings() -> list[Binding]:
    return [
        Binding(str(n % 10), f"goto('{v.view_name}')", v.title, id=f"go.{v.view_name}", show=False)
        for n, v in enumerate(ordered_views()[:10], start=1)
    ]


class MainScreen(Screen[None]):
    BINDINGS = [
        Binding("colon", "command_bar", "Go to", id="app.command"),
        Binding("slash", "filter", "Filter", id="app.filter"),
        Binding("question_mark", "help", "Keys", id="app.help"),
        Binding("escape", "back", "Back", id="app.back", show=False),
        Binding("ctrl+r", "reload", "Refresh", id="app.refresh", show=False),
        Binding("q", "app.quit", "Quit", id="app.quit"),
        *_jump_bindings(),
    ]
    DEFAULT_CSS = """
    #title { dock: top; height: 1; background: $primary-darken-2; color: $text; }
    #bottom { dock: bottom; height: auto; }
    #bottom > Footer { dock: none; }
    #hint { height: 1; color: $text-muted; }
    #hint.-error { color: $error; }
    #main { height: 1fr; }
    """

    def __init__(self, lab: Any) -> None:
        super().__init__()
        self.lab = lab
        self.views = {v.view_name: v(lab) for v in ordered_views()}
        self.current = ""
        self.history: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static(" labcloud: opening the lab...", id="title", markup=False)
        with ContentSwitcher(id="main"):
            yield from self.views.values()
        words = [w for name, v in self.views.items() for w in (name, *v.aliases)]
        with Vertical(id="bottom"):
            yield CommandBar(words)
            yield Static("", id="hint", markup=False)
            yield Footer()

    @property
    def view(self) -> ResourceView | None:
        return self.views.get(self.current)

    @property
    def bar(self) -> CommandBar:
        return self.query_one(CommandBar)

    # -- going places ---------------------------------------------------------------------
    def action_goto(self, name: str, remember: bool = True) -> None:
        if name == self.current:
            return
        if self.view is not None:
            self.view.activate(False)
            if remember:
                self.history.append(self.current)
        self.current = name
        self.query_one(ContentSwitcher).current = f"view-{name}"
        view = self.views[name]
        view.activate(True)
        view.table.focus()
        self.show_hint(f"$ {view.cli}")
        self.redraw_title()

    def action_command_bar(self) -> None:
        self.bar.open("command")

    def action_filter(self) -> None:
        if self.view is not None:
            self.bar.open("filter", self.view.filter_text)

    def action_back(self) -> None:
        view = self.view
        if self.bar.is_open:
            if self.bar.mode == "filter" and view is not None:
                view.set_filter("")
            self.close_bar()
        elif view is not None and view.filter_text:
            view.set_filter("")
        elif self.history:
            self.action_goto(self.history.pop(), remember=False)

    def action_reload(self) -> None:
        if self.view is not None:
            self.view.reload()

    def action_help(self) -> None:
        rows = []
        for active in self.active_bindings.values():
            binding = active.binding
            if not binding.description and not binding.id:
                continue
            rows.append((self.app.get_key_display(binding), binding.description, binding.id or ""))
        rows.sort(key=lambda row: not row[2])  # labcloud's own (rebindable) keys first
        rows.append(("ctrl+p", "Command palette", ""))
        title = self.view.title if self.view else "labcloud"
        self.app.push_screen(HelpScreen(title, rows))

    def close_bar(self) -> None:
        self.bar.close()
        if self.view is not None:
            self.view.table.focus()

    @on(Input.Changed, "#bar")
    def _typed(self, event: Input.Changed) -> None:
        if self.bar.mode == "filter" and self.bar.is_open and self.view is not None:
            self.view.set_filter(event.value)

    @on(Input.Submitted, "#bar")
    def _entered(self, event: Input.Submitted) -> None:
        mode = self.bar.mode
        self.close_bar()
        if mode == "filter":
            return
        names = {name: v.aliases for name, v in self.views.items()}
        try:
            text, project = split_project(event.value)
            if project is not None:
                self._switch_project(project)
                if not text:
                    return
            target = resolve(text, names)
        except (Unknown, LabError) as exc:
            message = exc.one_line() if isinstance(exc, LabError) else str(exc)
            self.show_hint(message, error=True)
            self.app.notify(message, severity="error", timeout=4)
            return
        if target == "quit":
            self.app.exit()
        else:
            self.action_goto(target)

    def _switch_project(self, name: str) -> None:
        """`@demo`: every view now lists demo's resources (one quick store call)."""
        now = self.lab.switch_project(name)
        self.show_hint(f"$ labcloud project use {now}")
        self.redraw_title()
        if self.view is not None:
            self.view.reload()

    # -- the two lines around the view --------------------------------------------------
    def show_hint(self, text: str, error: bool = False) -> None:
        hint = self.query_one("#hint", Static)
        hint.set_class(error, "-error")
        hint.update(f" {text}")

    def redraw_title(self) -> None:
        view = self.view
        text = Text(" labcloud ", style="bold")
        if view is not None:
            text.append(f"> {view.status()}")
        text.append(f"  project {self.lab.project_name}", style="dim")
        if view is not None and view.note:
            text.append(f"  {view.note}", style="bold yellow")
        self.query_one("#title", Static).update(text)

    def on_resource_view_changed(self, message: ResourceView.Changed) -> None:
        self.redraw_title()

    def on_resize(self) -> None:
        for view in self.views.values():
            view.set_class(self.size.width >= WIDE, "-wide")


class LabApp(App[None]):
    """The TUI over one Lab (labcloud/lab.py), the only way it reaches the services."""

    TITLE = "labcloud"
    CSS = LIGHT_CSS

    class Ready(Message):
        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    class LabChanged(Message):
        """The store moved or libvirt sent an event: the visible view loads again."""

    WATCH_EVERY = 0.2  # seconds between store-version checks (one PRAGMA, no rows read)

    def __init__(self, lab: Any, keymap: dict[str, str] | None = None, start: str = "") -> None:
        super().__init__()
        self.lab = lab
        # Rebound keys: lab.toml's [tui.keys] (checked when the config was read).
        self.keymap = keymap if keymap is not None else dict(lab.config.tui.keys)
        names = {v.view_name: v.aliases for v in ordered_views()}
        try:
            self.start = resolve(start, names) if start else ordered_views()[0].view_name
        except Unknown as exc:
            raise UsageError(str(exc), "`labcloud tui --help` lists the views") from None
        self.main = MainScreen(lab)
        self._poke = threading.Event()
        self.theme = THEMES[lab.config.tui.theme]

    def on_mount(self) -> None:
        if self.keymap:
            self.set_keymap(self.keymap)  # binding id -> keys, e.g. {"server.stop": "x"}
        self.push_screen(self.main)
        self._open_lab()

    @work(thread=True, exclusive=True, group="open")
    def _open_lab(self) -> None:
        """Build the services once, off the UI thread (recovery may touch libvirt)."""
        error = ""
        try:
            for service in ("identity", "flavors", "images", "compute"):
                getattr(self.lab, service)
        except LabError as exc:
            error = exc.one_line()
        self.post_message(self.Ready(error))

    def on_lab_app_ready(self, message: Ready) -> None:
        self.main.action_goto(self.start, remember=False)
        if message.error:
            self.main.show_hint(message.error, error=True)
        self._watch()

    @work(thread=True, exclusive=True, group="watch")
    def _watch(self) -> None:
        """Wake the visible view when anything changes: another process's commit (the
        store's data_version) or a libvirt lifecycle event. Nothing here asks a VM."""
        feed = self.lab.changes
        feed.watch_domains(lambda _uuid, _state: self._poke.set())
        worker = get_current_worker()
        seen = feed.version()
        while not worker.is_cancelled:
            poked = self._poke.wait(self.WATCH_EVERY)
            self._poke.clear()
            version = feed.version()
            if poked or version != seen:
                seen = version
                self.post_message(self.LabChanged())

    def on_lab_app_lab_changed(self, _message: LabChanged) -> None:
        if self.main.view is not None:
            self.main.view.reload()
        if not self.screen_stack:  # a change that lands while the app is closing
            return
        reload = getattr(self.screen, "reload", None)  # e.g. the instance screen
        if self.screen is not self.main and reload is not None:
            reload()

    def notify(self, message: str, *, markup: bool = False, **kwargs: Any) -> None:
        """Notifications carry names, descriptions and service errors: text, not markup."""
        super().notify(message, markup=markup, **kwargs)

    def show_hint(self, text: str, error: bool = False) -> None:
        self.main.show_hint(f"$ {text}" if text.startswith("labcloud ") else text, error)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for n, view in enumerate(ordered_views(), start=1):
            name = view.view_name
            yield SystemCommand(
                f"Go to {view.title}", f":{name}  (key {n})", partial(self.main.action_goto, name)
            )
        current = self.main.view
        if current is not None:
            for title, help_text, action in current.commands():
                yield SystemCommand(title, help_text, partial(self.run_action, action, current))
