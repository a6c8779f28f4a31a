"""The k9s-style bar: `:` names a view to go to, `/` filters the current list."""

from __future__ import annotations

from collections.abc import Iterable

from textual.binding import Binding
from textual.suggester import SuggestFromList
from textual.widgets import Input

QUIT_WORDS = ("q", "quit", "exit")


class Unknown(LookupError):
    """A `:` command that names no view; its message is the one line shown."""


def split_project(text: str) -> tuple[str, str | None]:
    """`:images @demo` -> ("images", "demo"); `:@demo` -> ("", "demo")."""
    words = text.strip().lstrip(":").split()
    projects = [w[1:] for w in words if w.startswith("@")]
    if len(projects) > 1 or any(not p for p in projects):
        raise Unknown("give one project, e.g. :servers @demo")
    rest = " ".join(w for w in words if not w.startswith("@"))
    return rest, projects[0] if projects else None


def resolve(text: str, names: dict[str, Iterable[str]]) -> str:
    """The view that `text` names: exactly, by an alias, or by an unambiguous prefix.

    `names` maps each view to its aliases. `quit` resolves to "quit".
    """
    word = text.strip().lstrip(":").strip().lower()
    if not word:
        raise Unknown("type a resource, e.g. :servers")
    if word in QUIT_WORDS:
        return "quit"
    words = {name: (name, *aliases) for name, aliases in names.items()}
    for name, spelled in words.items():
        if word in spelled:
            return name
    hits = sorted(
        name for name, spelled in words.items() if any(s.startswith(word) for s in spelled)
    )
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise Unknown(f"ambiguous resource {word!r}: {', '.join(hits)}")
    raise Unknown(f"unknown resource {word!r} (try: {', '.join(names)})")


class CommandBar(Input):
    """One line at the bottom, hidden until `:` or `/` opens it."""

    DEFAULT_CSS = """
    CommandBar, CommandBar:focus { display: none; border: none; height: 1; padding: 0 1; }
    CommandBar.-open { display: block; }
    """

    BINDINGS = [Binding("tab", "complete", "Complete", show=False, id="bar.complete")]

    def __init__(self, words: list[str]) -> None:
        self.completions = SuggestFromList(words, case_sensitive=False)
        super().__init__(id="bar", suggester=self.completions)
        self.mode = "command"  # or "filter"

    def action_complete(self) -> None:
        self.action_end()
        self.action_cursor_right()  # at the end, this takes the suggestion

    def open(self, mode: str, value: str = "") -> None:
        self.mode = mode
        self.suggester = self.completions if mode == "command" else None
        self.placeholder = (
            "resource, e.g. servers (Tab completes, Enter goes)"
            if mode == "command"
            else "filter: text in any column (Enter keeps, Esc clears)"
        )
        self.value = value
        self.add_class("-open")
        self.focus()

    def close(self) -> None:
        self.remove_class("-open")
        self.value = ""

    @property
    def is_open(self) -> bool:
        return self.has_class("-open")
