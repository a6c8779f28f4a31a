"""A DataTable whose cells are plain text, cut to a width measured in terminal cells.

Textual's DataTable reads a `str` cell as Rich markup: a project description such as
`[/x]` would stop the whole TUI with a MarkupError, and `[red]` would colour it. Names are
checked (labcloud/names.py) but descriptions, event messages and image properties are
free text, in any script. So each cell goes in as a rich Text, cut with an ellipsis to at
most `max_cell` cells (CJK and most emoji take two); it still equals (and `str()` gives) the
original string, so the keyed diff (screens/diff.py) compares what the service returned.
"""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.widgets import DataTable

MAX_CELL = 36  # cells: long names and descriptions are cut; the detail pane has them whole


class Cell(Text):
    """What the table draws; it equals, and prints as, the text it was made from, so the
    keyed diff compares it with the service's value (not with the cut one)."""

    source: str = ""

    def __eq__(self, other: object) -> bool:
        return self.source == (other.source if isinstance(other, Cell) else other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        return self.source


def as_cell(value: Any, width: int) -> Any:
    if not isinstance(value, str):
        return value
    cell = Cell(value, no_wrap=True, end="")
    cell.source = value
    if cell_len(value) > width:
        cell.truncate(width, overflow="ellipsis")
    return cell


class TextTable(DataTable[Any]):
    def __init__(self, *args: Any, max_cell: int = MAX_CELL, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_cell = max_cell

    def add_row(self, *cells: Any, **kwargs: Any) -> Any:
        return super().add_row(*(as_cell(c, self.max_cell) for c in cells), **kwargs)

    def update_cell(self, row_key: Any, column_key: Any, value: Any, **kwargs: Any) -> None:
        super().update_cell(row_key, column_key, as_cell(value, self.max_cell), **kwargs)

    async def _on_idle(self, event: events.Idle) -> None:
        # Textual calls this before DataTable's own idle handler, which measures the new
        # or changed cells and widens columns; rows drawn before that stay cached (keyed by
        # the table's update count) at the old widths, so the cursor row could show cut.
        if self._require_update_dimensions or self._updated_cells:
            self.call_later(self._redraw)

    def _redraw(self) -> None:
        self._clear_caches()
        self.refresh()
