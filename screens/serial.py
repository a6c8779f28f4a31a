"""The live serial console: what the guest prints, and every key typed goes to it.

One thread worker owns the console stream: it sends the queued keys in order and reads
what the guest prints, so the UI thread never waits on libvirt. Ctrl+] gives the keys back
to the TUI, as in `virsh console`.
"""

from __future__ import annotations

import queue
from typing import Any

from labcloud.screens.terminal_text import ScreenText, key_bytes
from rich.text import Text
from textual import events, work
from textual.message import Message
from textual.widget import Widget
from textual.worker import get_current_worker

from labcloud.errors import LabError

LEAVE_KEYS = ("ctrl+right_square_bracket", "ctrl+]")


class SerialConsole(Widget, can_focus=True):
    DEFAULT_CSS = """
    SerialConsole { height: 1fr; background: $background; color: $text; }
    SerialConsole:focus { border-left: thick $accent; }
    """

    class Left(Message):
        """Ctrl+] was pressed: the keys go back to the TUI."""

    class Status(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, lab: Any, server_id: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.lab = lab
        self.server_id = server_id
        self.screen_text = ScreenText()
        self.keys: queue.Queue[bytes] = queue.Queue()
        self.connected = False

    def connect(self) -> None:
        if not self.connected:
            self.connected = True
            self._io()

    @work(thread=True, exclusive=True, group="serial")
    def _io(self) -> None:
        worker = get_current_worker()
        try:
            stream = self.lab.compute.open_console(self.server_id)
        except LabError as exc:
            self.connected = False
            self.post_message(self.Status(exc.one_line()))
            return
        self.post_message(self.Status("connected (Ctrl+] leaves the console)"))
        try:
            stream.write(b"\r")  # ask the shell for a fresh prompt
            while not worker.is_cancelled:
                while not self.keys.empty():
                    stream.write(self.keys.get_nowait())
                data = stream.read(0.05)
                if data == b"":
                    self.post_message(self.Status("the console closed (the server stopped?)"))
                    break
                if data:
                    self.app.call_from_thread(self.feed, data.decode("utf-8", "replace"))
        except LabError as exc:
            self.post_message(self.Status(exc.one_line()))
        finally:
            stream.close()
            self.connected = False

    def feed(self, text: str) -> None:
        self.screen_text.feed(text)
        self.refresh()

    def render(self) -> Text:
        height = max(self.size.height, 1)
        return Text("\n".join(self.screen_text.lines[-height:]), no_wrap=True)

    def text(self) -> str:
        return self.screen_text.text()

    async def on_key(self, event: events.Key) -> None:
        if event.key in LEAVE_KEYS:
            event.stop()
            self.post_message(self.Left())
            return
        data = key_bytes(event.key, event.character)
        if data is None:
            return
        event.stop()
        event.prevent_default()
        self.keys.put(data)

    def on_unmount(self) -> None:
        for worker in self.workers:
            worker.cancel()
