"""Create forms: fields validated as they are typed, the equivalent `labcloud ...` line
shown live, the service call in a thread worker, and the service's one-line error kept on
screen when it refuses. A form is plain data (Field) plus two functions (cli, submit)."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from labcloud.screens.modals import ConfirmScreen
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import (
    Button,
    Checkbox,
    Input,
    Label,
    ProgressBar,
    Select,
    SelectionList,
    Static,
    TextArea,
)

from labcloud.errors import LabError
from labcloud.names import check_name

Values = dict[str, Any]  # field name -> str | bool | list[str]
Choices = Callable[[Any], list[tuple[str, str]]]  # lab -> [(label, value)], in a worker
Report = Callable[[int, int], None]  # (done, total) for the progress bar


@dataclass
class Field:
    name: str
    label: str
    kind: str = "text"  # text | select | multi | check | area
    default: Any = ""
    placeholder: str = ""
    required: bool = False
    choices: Choices | None = None  # for select and multi
    check: Callable[[str], None] | None = None  # raises LabError: its line shows inline


@dataclass
class Form:
    title: str
    fields: list[Field]
    cli: Callable[[Values], str]  # the equivalent `labcloud ...` line (cli_line)
    submit: Callable[[Any, Values, Report], str]  # runs in a worker; returns the outcome
    verb: str = "Create"
    progress: bool = False  # show a progress bar (imports)
    # Destructive forms (remove a rule, a router's subnet): the question asked before submit.
    confirm: Callable[[Values], str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def name_check(what: str) -> Callable[[str], None]:
    def check(text: str) -> None:
        if text:
            check_name(text, what)

    return check


def int_check(what: str, low: int = 1) -> Callable[[str], None]:
    def check(text: str) -> None:
        from labcloud.errors import UsageError

        if text and (not text.isdigit() or int(text) < low):
            raise UsageError(f"{what} must be a whole number of at least {low}")

    return check


def cli_line(argv: list[str]) -> str:
    return shlex.join(["labcloud", *argv])


def flag(argv: list[str], option: str, value: Any) -> None:
    """Add `option value` when value is set (repeated for a list)."""
    for item in value if isinstance(value, list) else [value]:
        if item not in ("", None, False):
            argv += [option] if item is True else [option, str(item)]


class FormScreen(ModalScreen[str | None]):
    """One create form. Dismisses with the outcome line, or None when cancelled."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel", id="form.cancel"),
        Binding("ctrl+s", "submit", "Create", id="form.submit"),
    ]
    DEFAULT_CSS = """
    FormScreen { align: center middle; }
    FormScreen > Vertical {
        width: 78; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    FormScreen VerticalScroll { height: auto; max-height: 14; }
    FormScreen .field-label { color: $text-muted; }
    FormScreen .field-error { color: $error; height: auto; display: none; }
    FormScreen .field-error.-shown { display: block; }
    FormScreen Input, FormScreen Select { width: 100%; }
    /* Compact widgets: one line per input, so a form fits 80x24 over SSH. */
    FormScreen Checkbox { margin-top: 1; }
    FormScreen .field-label { margin-top: 0; }
    FormScreen SelectionList { height: auto; max-height: 5; }
    FormScreen TextArea { height: 4; }
    FormScreen #cli { color: $accent; height: auto; margin-top: 1; }
    FormScreen #error { color: $error; height: auto; }
    FormScreen ProgressBar { display: none; }
    FormScreen ProgressBar.-on { display: block; }
    FormScreen Horizontal { height: auto; align-horizontal: right; }
    FormScreen Button { margin-left: 2; }
    """

    class Loaded(Message):
        def __init__(self, name: str, options: list[tuple[str, str]]) -> None:
            super().__init__()
            self.name = name
            self.options = options

    class Done(Message):
        def __init__(self, outcome: str | None, error: str) -> None:
            super().__init__()
            self.outcome = outcome
            self.error = error

    def __init__(self, lab: Any, form: Form) -> None:
        super().__init__()
        self.lab = lab
        self.form = form
        self.busy = False
        self.cli_shown = ""  # the `labcloud ...` line on show (tests read it unwrapped)

    # -- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f" {self.form.title}  (Ctrl+S {self.form.verb.lower()}s, Esc cancels)")
            with VerticalScroll():
                for f in self.form.fields:
                    yield from self._field(f)
            yield Static("", id="cli", markup=False)
            yield ProgressBar(id="progress", show_eta=False)
            yield Static("", id="error", markup=False)
            with Horizontal():
                yield Button("Cancel", id="cancel", compact=True)
                yield Button(self.form.verb, id="submit", variant="primary", compact=True)

    def _field(self, f: Field) -> ComposeResult:
        fid = f"f-{f.name}"
        if f.kind == "check":
            yield Checkbox(f.label, bool(f.default), id=fid, compact=True)
            return
        yield Label(f.label + (" *" if f.required else ""), classes="field-label")
        if f.kind == "select":
            yield Select[str]([], prompt=f.placeholder or "choose", id=fid, compact=True)
        elif f.kind == "multi":
            yield SelectionList[str](id=fid, compact=True)
        elif f.kind == "area":
            yield TextArea(str(f.default), id=fid, compact=True)
        else:
            yield Input(str(f.default), placeholder=f.placeholder, id=fid, compact=True)
        yield Static("", id=f"e-{f.name}", classes="field-error", markup=False)

    def on_mount(self) -> None:
        for f in self.form.fields:
            if f.choices is not None:
                self._load_choices(f)
        self.query(Input).first().focus() if self.query(Input) else None
        self.show_cli()

    @work(thread=True)
    def _load_choices(self, f: Field) -> None:
        assert f.choices is not None
        try:
            options = f.choices(self.lab)
        except LabError:
            options = []
        self.post_message(self.Loaded(f.name, options))

    def on_form_screen_loaded(self, message: Loaded) -> None:
        f = next(f for f in self.form.fields if f.name == message.name)
        widget = self.query_one(f"#f-{f.name}")
        # Labels are data (descriptions, rule lines with `[id]`), never markup.
        options = [(Content(label), value) for label, value in message.options]
        if isinstance(widget, Select):
            widget.set_options(options)
            values = [v for _, v in message.options]
            if f.default in values:
                widget.value = f.default
            elif len(values) == 1:
                widget.value = values[0]
        elif isinstance(widget, SelectionList):
            widget.clear_options()
            widget.add_options([(label, value, value == f.default) for label, value in options])
        self.show_cli()

    # -- values and checks ----------------------------------------------------------------
    def values(self) -> Values:
        out: Values = {}
        for f in self.form.fields:
            widget = self.query_one(f"#f-{f.name}")
            if isinstance(widget, Checkbox):
                out[f.name] = widget.value
            elif isinstance(widget, Select):
                out[f.name] = "" if widget.is_blank() else str(widget.value)
            elif isinstance(widget, SelectionList):
                out[f.name] = [str(v) for v in widget.selected]
            elif isinstance(widget, TextArea):
                out[f.name] = widget.text
            else:
                out[f.name] = widget.value.strip()  # type: ignore[attr-defined]
        return out

    def check(self, only: str | None = None) -> bool:
        """Inline validation: each field's own line; True when every field is fine."""
        ok = True
        values = self.values()
        for f in self.form.fields:
            if f.kind == "check":
                continue
            value = values[f.name]
            error = ""
            if f.required and not value:
                error = f"{f.label.lower()} is required"
            elif f.check is not None and isinstance(value, str):
                try:
                    f.check(value)
                except LabError as exc:
                    error = exc.one_line()
            ok = ok and not error
            if only is None or only == f.name:
                line = self.query_one(f"#e-{f.name}", Static)
                line.update(error)
                line.set_class(bool(error), "-shown")
        return ok

    def show_cli(self) -> None:
        try:
            line = self.form.cli(self.values())
        except (LabError, ValueError):
            line = ""
        self.cli_shown = f"$ {line}" if line else ""
        self.query_one("#cli", Static).update(self.cli_shown)

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    @on(SelectionList.SelectedChanged)
    @on(TextArea.Changed)
    def _changed(self, event: Any) -> None:
        widget_id = getattr(event.control, "id", "") or ""
        if widget_id.startswith("f-"):
            self.check(only=widget_id[2:])
        self.show_cli()

    # -- submit -----------------------------------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cancel":
            self.dismiss(None)
        else:
            self.action_submit()

    @on(Input.Submitted)
    def _enter(self, _event: Input.Submitted) -> None:
        self.action_submit()

    def action_submit(self) -> None:
        if self.busy or not self.check():
            return
        if self.form.confirm is not None:
            values = self.values()
            question = f"{self.form.confirm(values)}\n{self.cli_shown}"

            def confirmed(yes: bool | None) -> None:
                if yes:
                    self._start()

            self.app.push_screen(ConfirmScreen(question, self.form.verb), confirmed)
            return
        self._start()

    def _start(self) -> None:
        self.busy = True
        self.query_one("#error", Static).update(f"{self.form.verb.lower()}ing...")
        if self.form.progress:
            self.query_one(ProgressBar).add_class("-on")
        self._run(self.values())

    @work(thread=True, group="form")
    def _run(self, values: Values) -> None:
        bar = self.query_one(ProgressBar)

        def report(done: int, total: int) -> None:
            self.app.call_from_thread(bar.update, total=max(total, 1), progress=done)

        try:
            outcome, error = self.form.submit(self.lab, values, report), ""
        except LabError as exc:
            outcome, error = None, exc.one_line()
        self.post_message(self.Done(outcome, error))

    def on_form_screen_done(self, message: Done) -> None:
        self.busy = False
        if message.error:
            self.query_one("#error", Static).update(message.error)
            self.query_one(ProgressBar).remove_class("-on")
            return
        self.dismiss(message.outcome)
