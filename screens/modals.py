"""Modal screens: the confirmation a destructive action asks for, and the `?` key list."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label


class ConfirmScreen(ModalScreen[bool]):
    """Yes or no; Esc and `n` say no. The default button is the safe one."""

    BINDINGS = [
        Binding("escape,n", "dismiss(False)", "Cancel", id="confirm.no"),
        Binding("y", "dismiss(True)", "Yes", id="confirm.yes"),
    ]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 76; max-width: 100%; height: auto; padding: 1 2;
        border: thick $error; background: $surface;
    }
    ConfirmScreen Horizontal { height: auto; margin-top: 1; align-horizontal: right; }
    ConfirmScreen Button { margin-left: 2; }
    """

    def __init__(self, question: str, verb: str) -> None:
        super().__init__()
        self.question = question
        self.verb = verb

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, markup=False)
            with Horizontal():
                yield Button("Cancel (n)", id="no")
                yield Button(f"{self.verb} (y)", id="yes", variant="error")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class HelpScreen(ModalScreen[None]):
    """Every key binding active on the screen underneath, with its rebindable id."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close", id="help.close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical {
        width: 76; max-height: 22; height: auto; border: thick $primary; background: $surface;
    }
    HelpScreen DataTable { height: auto; max-height: 19; }
    """

    def __init__(self, title: str, rows: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.rows = rows

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f" Keys on {self.title_text} (Esc closes)")
            table: DataTable[str] = DataTable(cursor_type="row", id="keys")
            table.add_columns("Key", "Action", "Id (rebind in lab.toml)")
            for row in self.rows:
                table.add_row(*row)
            yield table


class TypeNameScreen(ModalScreen[bool]):
    """For what is in use or protected: the deletion goes ahead only when the name is typed."""

    BINDINGS = [Binding("escape", "dismiss(False)", "Cancel", id="typename.cancel")]
    DEFAULT_CSS = """
    TypeNameScreen { align: center middle; }
    TypeNameScreen > Vertical {
        width: 64; height: auto; padding: 1 2; border: thick $error; background: $surface;
    }
    TypeNameScreen #wrong { color: $error; height: auto; }
    """

    def __init__(self, question: str, name: str) -> None:
        super().__init__()
        self.question = question
        self.name_wanted = name

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, markup=False)
            yield Label(f"Type {self.name_wanted} to confirm (Esc cancels):", markup=False)
            yield Input(id="typed")
            yield Label("", id="wrong")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value == self.name_wanted:
            self.dismiss(True)
        else:
            self.query_one("#wrong", Label).update("that is not the name; nothing was deleted")
