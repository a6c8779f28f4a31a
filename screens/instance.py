"""The instance screen: one server's record, actions, its console log and a live serial
console. Enter on a server opens it; Esc goes back to the list."""

from __future__ import annotations

from typing import Any

from labcloud.screens.forms import cli_line
from labcloud.screens.resource import cell, record_of
from labcloud.screens.serial import SerialConsole
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static, TabbedContent, TabPane

from labcloud.errors import LabError

LOG_LINES = 200
TOGGLES = {"PAUSED": "unpause"}


class InstanceScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "back", "Back", id="instance.back"),
        Binding("s", "act('start')", "Start", id="server.start"),
        Binding("o", "act('stop')", "Stop", id="server.stop"),
        Binding("r", "act('reboot')", "Reboot", id="server.reboot"),
        Binding("p", "act('pause')", "Pause/unpause", id="server.pause"),
        Binding("l", "show('log')", "Log", id="instance.log"),
        Binding("t", "show('serial')", "Serial console", id="instance.serial"),
        Binding("d", "show('details')", "Details", id="instance.details"),
    ]
    DEFAULT_CSS = """
    InstanceScreen #head { height: 1; background: $primary-darken-2; }
    InstanceScreen #hint { height: 1; color: $text-muted; dock: bottom; }
    InstanceScreen #hint.-error { color: $error; }
    InstanceScreen TabbedContent { height: 1fr; }
    InstanceScreen TabPane { height: 1fr; padding: 0; }
    """

    class Loaded(Message):
        def __init__(self, record: dict[str, Any], log: str) -> None:
            super().__init__()
            self.record = record
            self.log = log

    class Done(Message):
        def __init__(self, cli: str, error: str) -> None:
            super().__init__()
            self.cli = cli
            self.error = error

    def __init__(self, lab: Any, server_id: str, name: str) -> None:
        super().__init__()
        self.lab = lab
        self.server_id = server_id
        self.server_name = name
        self.record: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        yield Static(f" labcloud > server {self.server_name}", id="head", markup=False)
        with TabbedContent(initial="log"):
            with TabPane("Console log", id="log"), VerticalScroll(id="log-box"):
                yield Static("loading...", id="log-text", markup=False)
            with TabPane("Serial console", id="serial"):
                yield SerialConsole(self.lab, self.server_id, id="console")
            with TabPane("Details", id="details"), VerticalScroll():
                yield Static("", id="details-text", markup=False)
        yield Static("", id="hint", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.hint(cli_line(["console", "log", self.server_name, "--lines", str(LOG_LINES)]))
        self.reload()

    # -- data --------------------------------------------------------------------------------
    def reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="instance")
    def _load(self) -> None:
        try:
            server = self.lab.compute.get(self.server_id)
            record = record_of(server)
            try:
                log = self.lab.compute.console_log(self.server_id, lines=LOG_LINES)
            except LabError as exc:
                log = exc.one_line()
        except LabError as exc:
            record, log = {"status": "GONE", "error": exc.one_line()}, ""
        self.post_message(self.Loaded(record, log))

    def on_instance_screen_loaded(self, message: Loaded) -> None:
        self.record = message.record
        status = message.record.get("status", "?")
        power = message.record.get("power_state", "")
        self.query_one("#head", Static).update(
            f" labcloud > server {self.server_name}  {status} {power}".rstrip()
        )
        self.query_one("#log-text", Static).update(message.log or "(the console log is empty)")
        self.query_one("#log-box").scroll_end(animate=False)
        keys = sorted(message.record)
        width = max((len(k) for k in keys), default=0)
        details = "\n".join(f"{k.ljust(width)}  {cell(message.record[k])}" for k in keys)
        self.query_one("#details-text", Static).update(details)

    # -- tabs and actions ---------------------------------------------------------------------
    def action_show(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    @on(TabbedContent.TabActivated)
    def _tab(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "serial":
            console = self.query_one(SerialConsole)
            console.connect()
            console.focus()
            self.hint(f"virsh console labcloud-{self.server_id}  (Ctrl+] leaves)")
        elif event.pane.id == "log":
            self.hint(cli_line(["console", "log", self.server_name, "--lines", str(LOG_LINES)]))
            self.reload()
        else:
            self.hint(cli_line(["server", "show", self.server_name]))

    def on_serial_console_left(self, _message: SerialConsole.Left) -> None:
        self.query_one(TabbedContent).query_one("Tabs").focus()

    def on_serial_console_status(self, message: SerialConsole.Status) -> None:
        self.hint(message.text)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_act(self, action: str) -> None:
        if action == "pause":
            action = TOGGLES.get(str(self.record.get("status")), action)
        cli = cli_line(["server", action, self.server_name])
        self.hint(cli)
        self._act(action, cli)

    @work(thread=True, group="actions")
    def _act(self, action: str, cli: str) -> None:
        try:
            getattr(self.lab.compute, action)(self.server_id)
            error = ""
        except LabError as exc:
            error = exc.one_line()
        self.post_message(self.Done(cli, error))

    def on_instance_screen_done(self, message: Done) -> None:
        if message.error:
            self.hint(f"{message.cli}: {message.error}", error=True)
            self.app.notify(message.error, title=message.cli, severity="error")
        else:
            self.hint(message.cli)
        self.reload()

    def hint(self, text: str, error: bool = False) -> None:
        widget = self.query_one("#hint", Static)
        widget.set_class(error, "-error")
        widget.update(
            f" $ {text}" if not error and not text.startswith(("connected", "the ")) else f" {text}"
        )
