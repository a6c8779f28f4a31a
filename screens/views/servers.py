"""Servers (Nova instances): the list, lifecycle actions and the console log."""

from __future__ import annotations

from typing import Any

from labcloud.screens.create_forms import server_form
from labcloud.screens.forms import Form
from labcloud.screens.resource import Item, ResourceView, Snapshot, cell, record_of
from textual import work
from textual.binding import Binding
from textual.message import Message

from labcloud.errors import BackendError, LabError

CONSOLE_LINES = 200
# Action -> the status it can start from, as the service enforces (for a friendly toggle).
TOGGLES = {"PAUSED": "unpause"}


class ServersView(ResourceView):
    view_name = "servers"
    title = "Servers"
    aliases = ("server", "instances", "vm", "vms")
    order = 2
    columns = ("Name", "Status", "Task", "Power", "Networks", "Image", "Flavor")
    cli = "labcloud server list"
    noun = "server"
    max_cell = 64  # whole names; the Networks column is not in the detail pane

    BINDINGS = [
        Binding("s", "server('start')", "Start", id="server.start"),
        Binding("o", "server('stop')", "Stop", id="server.stop"),
        Binding("r", "server('reboot')", "Reboot", id="server.reboot"),
        Binding("p", "server('pause')", "Pause/unpause", id="server.pause"),
        Binding("l", "console", "Console", id="server.console"),
    ]

    class ConsoleLoaded(Message):
        def __init__(self, key: str, text: str) -> None:
            super().__init__()
            self.key = key
            self.text = text

    def __init__(self, lab: Any) -> None:
        super().__init__(lab)
        self.console_mode = False
        self.console: tuple[str, str] | None = None  # (server id, text)

    # -- data -----------------------------------------------------------------------------
    def fetch(self) -> Snapshot:
        note = ""
        try:
            servers = self.lab.compute.list()  # one libvirt call for every server
        except BackendError:
            # libvirt is down: the store still says what labcloud intends; say so in one line.
            servers = self.lab.compute.list(sync=False)
            note = "libvirt unreachable"
        images = {i.id: i.name for i in self.lab.images.list()}
        try:
            addresses = self.lab.network.server_addresses([s.id for s in servers])
        except LabError:
            addresses = {}
        return Snapshot(
            [
                Item(
                    s.id,
                    (
                        s.name,
                        s.status,
                        s.task_state or "",
                        s.power_state,
                        cell(addresses.get(s.id, "")),
                        images.get(s.image_id or "", s.image_id or ""),
                        s.flavor_name,
                    ),
                    record_of(s),
                )
                for s in servers
            ],
            note,
        )

    def take(self, snapshot: Snapshot) -> None:
        super().take(snapshot)
        if self.console_mode:
            self._refresh_console()

    def detail(self, item: Item | None) -> str:
        if not self.console_mode or item is None:
            return super().detail(item)
        if self.console is None or self.console[0] != item.key:
            return f"console of {item.cells[0]}: loading..."
        return self.console[1] or f"console of {item.cells[0]}: empty"

    def on_data_table_row_selected(self, message: Any) -> None:
        """Enter: the instance screen (actions, console log, serial console)."""
        item = self.selected()
        if item is not None:
            from labcloud.screens.instance import InstanceScreen

            self.app.push_screen(InstanceScreen(self.lab, item.key, item.cells[0]))

    def on_data_table_row_highlighted(self, message: Any) -> None:
        self.show_detail()
        if self.console_mode:
            self._refresh_console()

    # -- console --------------------------------------------------------------------------
    def action_console(self) -> None:
        self.console_mode = not self.console_mode
        item = self.selected()
        if self.console_mode and item is not None:
            self.app.show_hint(f"labcloud console log {item.cells[0]} --lines {CONSOLE_LINES}")
            self._refresh_console()
        self.show_detail()

    def _refresh_console(self) -> None:
        item = self.selected()
        if item is not None:
            self._load_console(item.key)

    @work(thread=True, exclusive=True, group="console")
    def _load_console(self, key: str) -> None:
        try:
            text = self.lab.compute.console_log(key, lines=CONSOLE_LINES)
        except LabError as exc:
            text = exc.one_line()
        self.post_message(self.ConsoleLoaded(key, text))

    def on_servers_view_console_loaded(self, message: ConsoleLoaded) -> None:
        self.console = (message.key, message.text)
        self.show_detail()
        self.query_one("#detail-box").scroll_end(animate=False)

    # -- lifecycle actions ------------------------------------------------------------------
    def action_server(self, action: str) -> None:
        item = self.selected()
        if item is None:
            self.app.notify("no server selected", severity="warning")
            return
        if action == "pause":
            action = TOGGLES.get(item.cells[1], action)
        self.run_action(action, item)

    def run_action(self, action: str, item: Item) -> None:
        def call() -> str:
            server = getattr(self.lab.compute, action)(item.key)
            return f"{server.name} is {server.status}"

        self.run_call(["server", action, item.cells[0]], call)

    def delete(self, item: Item) -> Any:
        return self.lab.compute.delete(item.key)

    def in_use(self, item: Item) -> str:
        return "is running" if item.cells[1] == "ACTIVE" else ""

    def create_form(self) -> Form:
        return server_form()

    def commands(self) -> list[tuple[str, str, str]]:
        return [
            ("Server: start", "Start the selected server", "server('start')"),
            ("Server: stop", "Stop the selected server (ACPI, then power off)", "server('stop')"),
            ("Server: reboot", "Reboot the selected server", "server('reboot')"),
            ("Server: pause/unpause", "Pause or unpause the selected server", "server('pause')"),
            ("Server: console log", "Show the selected server's console", "console"),
            ("Server: serial console", "Type into the selected server's console", "serial"),
            *super().commands(),
        ]
