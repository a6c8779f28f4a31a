"""ResourceView: one screen of the TUI, a table keyed by resource id plus a detail pane.

A view for a new service is one small module in screens/views/: subclass ResourceView,
set its name, columns and CLI equivalent, and write `fetch()`. It registers itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from labcloud.screens.diff import Cells, matches, plan
from labcloud.screens.forms import Form, FormScreen, cli_line
from labcloud.screens.modals import ConfirmScreen, TypeNameScreen
from labcloud.screens.text_table import MAX_CELL, TextTable
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Static

from labcloud.errors import LabError


@dataclass(frozen=True)
class Item:
    """One row: its key (the resource id), the visible cells and the full record."""

    key: str
    cells: Cells
    record: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Snapshot:
    items: list[Item]
    note: str = ""  # a one-line status, e.g. "libvirt unreachable: ..."


REGISTRY: dict[str, type[ResourceView]] = {}


def cell(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def record_of(obj: Any) -> dict[str, Any]:
    """The full record of a service's row object (a pydantic/SQLModel model)."""
    dump = getattr(obj, "model_dump", None)
    return dict(dump()) if dump else dict(vars(obj))


class ResourceView(Vertical):
    """A keyed, self-refreshing table of one kind of resource and the selected one's record."""

    view_name: ClassVar[str] = ""  # the `:name` of the view; registers the subclass
    title: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    order: ClassVar[int] = 100  # position in the number keys 1..9
    columns: ClassVar[tuple[str, ...]] = ()
    cli: ClassVar[str] = ""  # the equivalent `labcloud ...` list command
    noun: ClassVar[str] = ""  # the CLI's noun, e.g. "floating ip": `labcloud floating ip delete`
    max_cell: ClassVar[int] = MAX_CELL  # longer cells are cut (in terminal cells) with "…"
    # A safety net only: changes arrive as store versions and libvirt events (app.py).
    interval: ClassVar[float] = 30.0

    DEFAULT_CSS = """
    ResourceView { height: 1fr; }
    ResourceView > DataTable { height: 1fr; min-height: 5; }
    ResourceView > #detail-box { height: 9; border-top: solid $primary-darken-2; }
    ResourceView.-wide { layout: horizontal; }
    ResourceView.-wide > DataTable { width: 3fr; height: 1fr; }
    ResourceView.-wide > #detail-box {
        width: 2fr; height: 1fr; border-top: none; border-left: solid $primary-darken-2;
    }
    """

    class Loaded(Message):
        def __init__(self, view: ResourceView, snapshot: Snapshot) -> None:
            super().__init__()
            self.view = view
            self.snapshot = snapshot

    class Changed(Message):
        """The title line should be redrawn: counts, filter or note changed."""

    class ActionDone(Message):
        def __init__(self, cli: str, error: str | None, outcome: str) -> None:
            super().__init__()
            self.cli = cli
            self.error = error
            self.outcome = outcome

    BINDINGS = [
        Binding("c", "create", "Create", id="resource.create"),
        Binding("ctrl+d", "delete", "Delete", id="resource.delete"),
    ]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.view_name:
            REGISTRY[cls.view_name] = cls

    def __init__(self, lab: Any) -> None:
        super().__init__(id=f"view-{self.view_name}")
        self.lab = lab
        self.items: list[Item] = []
        self.filter_text = ""
        self.note = ""
        self.active = False
        self.loaded = False
        self._timer: Timer | None = None
        # Not `loading`: that is Widget's reactive, which covers the view with a fresh
        # LoadingIndicator each time it is set, i.e. on every live update.
        self.fetching = False
        self._again = False  # a change arrived while loading: load once more after
        self._shown: list[tuple[str, Cells]] = []  # what the table holds, as (key, cells)
        self._detail_text: str | None = None

    # -- for subclasses -----------------------------------------------------------------
    def fetch(self) -> Snapshot:
        """Runs in a thread worker: the blocking service calls, nothing of Textual."""
        raise NotImplementedError

    def detail(self, item: Item | None) -> str:
        if item is None:
            return "(nothing selected)"
        first = [k for k in ("name", "id", "status") if k in item.record]
        keys = first + sorted(k for k in item.record if k not in first)
        width = max((len(k) for k in keys), default=0)
        return "\n".join(f"{k.ljust(width)}  {cell(item.record[k])}" for k in keys)

    def take(self, snapshot: Snapshot) -> None:
        """On the UI thread: keep what a fetch found (subclasses may keep more)."""
        self.items = snapshot.items
        self.note = snapshot.note

    def commands(self) -> list[tuple[str, str, str]]:
        """(title, help, action) for the command palette: the view's own, then create/delete."""
        out = []
        if type(self).create_form is not ResourceView.create_form:
            out.append((f"{self.title}: create", f"New {self.noun} (a form)", "create"))
        if type(self).delete is not ResourceView.delete:
            out.append((f"{self.title}: delete", f"Delete the selected {self.noun}", "delete"))
        return out

    def create_form(self) -> Form | None:
        """The form `c` opens; None when this view creates nothing."""
        return None

    def delete(self, item: Item) -> Any:
        """The service call that deletes `item` (runs in a worker)."""
        raise NotImplementedError

    def in_use(self, item: Item) -> str:
        """Why deleting `item` needs its name typed (in use, protected); "" when it does not."""
        return ""

    # -- create and delete ----------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "create":
            return type(self).create_form is not ResourceView.create_form
        if action == "delete":
            return type(self).delete is not ResourceView.delete
        return True

    def action_create(self) -> None:
        form = self.create_form()
        if form is not None:
            self.open_form(form)

    def open_form(self, form: Form) -> None:
        """A form over the view (create, attach, ...); its outcome is notified, rows reload."""

        def done(outcome: str | None) -> None:
            if outcome:
                self.app.notify(outcome, title=form.title)
                self.reload()

        self.app.push_screen(FormScreen(self.lab, form), done)

    def confirm_call(
        self, question: str, verb: str, argv: list[str], call: Callable[[], Any], outcome: str
    ) -> None:
        """A destructive action without choices (detach, clear): yes/no, then the call."""

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_call(argv, call, outcome)

        text = f"{question}\n$ {cli_line(argv)}"
        self.app.push_screen(ConfirmScreen(text, verb), confirmed)

    def selected_or_warn(self) -> Item | None:
        item = self.selected()
        if item is None:
            self.warn(f"no {self.noun} selected")
        return item

    def warn(self, text: str) -> None:
        """Why an action did nothing: a toast, and the hint line (seen at 80x24 too)."""
        self.app.notify(text, severity="warning")
        self.app.show_hint(text, error=True)  # type: ignore[attr-defined]

    def action_delete(self) -> None:
        item = self.selected()
        if item is None:
            self.app.notify(f"no {self.noun} selected", severity="warning")
            return
        name = item.cells[0]
        argv = [*self.noun.split(), "delete", name]

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_call(argv, lambda: self.delete(item), f"{self.noun} {name} deleted")

        reason = self.in_use(item)
        if reason:
            question = f"{self.noun.capitalize()} {name} {reason}."
            self.app.push_screen(TypeNameScreen(question, name), confirmed)
        else:
            question = f"Delete {self.noun} {name}?"
            self.app.push_screen(ConfirmScreen(question, "Delete"), confirmed)

    def run_call(self, argv: list[str], call: Callable[[], Any], outcome: str = "") -> None:
        """Run a service call in a worker, showing its `labcloud ...` line first."""
        cli = cli_line(argv)
        self.app.show_hint(cli)  # type: ignore[attr-defined]
        self._call(cli, call, outcome)

    @work(thread=True, group="actions")
    def _call(self, cli: str, call: Callable[[], Any], outcome: str) -> None:
        try:
            result = call()
            error = None
            outcome = outcome or (str(result) if isinstance(result, str) else "done")
        except LabError as exc:
            outcome, error = "", exc.one_line()
        self.post_message(self.ActionDone(cli, error, outcome))

    def on_resource_view_action_done(self, message: ActionDone) -> None:
        message.stop()
        if message.error:
            self.app.notify(message.error, title=message.cli, severity="error", timeout=8)
            self.app.show_hint(f"{message.cli}: {message.error}", error=True)  # type: ignore[attr-defined]
        else:
            self.app.notify(message.outcome, title=message.cli)
        self.reload()

    # -- widgets --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        table = TextTable(cursor_type="row", zebra_stripes=True, id="table", max_cell=self.max_cell)
        for i, name in enumerate(self.columns):
            table.add_column(name, key=str(i))
        yield table
        with VerticalScroll(id="detail-box"):
            yield Static("", id="detail", markup=False)

    @property
    def table(self) -> DataTable[str]:
        return self.query_one("#table", DataTable)

    def items_cells(self) -> list[tuple[str, ...]]:
        return [i.cells for i in self.items]

    def visible(self) -> list[Item]:
        return [i for i in self.items if matches(i.cells, self.filter_text)]

    def selected(self) -> Item | None:
        table = self.table
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        return next((i for i in self.items if i.key == key), None)

    # -- refresh --------------------------------------------------------------------------
    def activate(self, on: bool) -> None:
        self.active = on
        if on:
            self.reload()
        elif self._timer is not None:
            self._timer.stop()

    def reload(self) -> None:
        if self.fetching:
            self._again = True  # bursts of changes cost one more load, not one each
            return
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.fetching = True
        self._load()

    @work(thread=True, exclusive=True, group="fetch")
    def _load(self) -> None:
        try:
            snapshot = self.fetch()
        except LabError as exc:
            snapshot = Snapshot(self.items, exc.one_line())
        except Exception as exc:  # a bug must not kill the UI: show it as the note
            snapshot = Snapshot(self.items, f"internal error: {type(exc).__name__}: {exc}")
        self.post_message(self.Loaded(self, snapshot))

    def on_resource_view_loaded(self, message: Loaded) -> None:
        message.stop()
        self.fetching = False
        self.take(message.snapshot)
        self.loaded = True
        self.apply()
        if self._again and self.active:
            self._again = False
            self.reload()
        elif self.active:
            # Rescheduled only after a load finished, so slow calls never pile up.
            self._timer = self.set_timer(self.interval, self.reload)

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self.apply()

    def apply(self) -> None:
        """Show `visible()` in the table through the keyed diff, keeping the cursor."""
        table = self.table
        if table.row_count != len(self._shown):  # the table was changed behind our back
            self._shown = [
                (str(r.key.value), tuple(table.get_row(r.key))) for r in table.ordered_rows
            ]
        old = self._shown
        new = [(i.key, i.cells) for i in self.visible()]
        # Most live updates change nothing on this view (another kind of resource moved):
        # then the table is not touched at all, so none of its render caches is dropped.
        if new != old:
            cursor_key = self._cursor_key() if old else None
            todo = plan(old, new, cursor_key, table.cursor_row)
            if todo.rebuild:
                table.clear()
            for key in todo.removed if not todo.rebuild else ():
                table.remove_row(key)
            for key, column, value in todo.changed:
                table.update_cell(key, str(column), value, update_width=True)
            for key, cells in todo.added:
                table.add_row(*cells, key=key)
            self._shown = new
            if todo.cursor is not None:
                table.move_cursor(row=todo.cursor, animate=False)
        self.show_detail()
        self.post_message(self.Changed())

    def _cursor_key(self) -> str | None:
        table = self.table
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value)

    def show_detail(self) -> None:
        text = self.detail(self.selected())
        if text != self._detail_text:  # an unchanged pane is not re-laid out
            self._detail_text = text
            self.query_one("#detail", Static).update(text)

    def on_data_table_row_highlighted(self, message: DataTable.RowHighlighted) -> None:
        self.show_detail()

    def status(self) -> str:
        shown = len(self.visible())
        count = f"{shown}/{len(self.items)}" if self.filter_text else str(shown)
        text = f"{self.title} [{count}]"
        if self.filter_text:
            text += f" /{self.filter_text}"
        return text
