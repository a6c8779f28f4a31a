"""Where a key path is in a TOML file's text, so an error can name the line.

tomllib returns plain dicts without positions. The file is scanned line by line instead:
table headers ([a.b], [[a]]) set the current table, `key = value` lines add a key under it.
The line of a path is that of the longest prefix found; a key inside an array of inline
tables (a rule, a NIC) is looked for from its item on.
"""

from __future__ import annotations

import difflib
import re

from labcloud.errors import ConfigError

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(
    r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*="""
)
_PART = re.compile(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""")


def _parts(dotted: str) -> tuple[str, ...]:
    return tuple(p.strip("\"'") for p in _PART.findall(dotted))


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Every table and key path defined in the text, with its first line (1-based)."""
    found: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            table = _parts(header.group(1))
            for i in range(1, len(table) + 1):
                found.setdefault(table[:i], number)
            continue
        key = _KEY.match(line)
        if key:
            path = table + _parts(key.group(1))
            for i in range(len(table) + 1, len(path) + 1):
                found.setdefault(path[:i], number)
    return found


class SourceFile:
    """A stack file's name and text, and errors that point into it."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text
        self._lines: dict[tuple[str, ...], int] | None = None

    def line_of(self, path: tuple[object, ...]) -> int | None:
        if self._lines is None:
            self._lines = key_lines(self.text)
        keys = tuple(str(p) for p in path if not isinstance(p, int))
        for n in range(len(keys), 0, -1):
            if keys[:n] in self._lines:
                line = self._lines[keys[:n]]
                return self._inside(line, path, keys[:n]) or line
        return None

    def _inside(self, line: int, path: tuple[object, ...], found: tuple[str, ...]) -> int | None:
        """For a path into an array of inline tables (rules[1].port), the line of that item's
        key: the item-th `{` after the array's key, then the key on or after it."""
        rest = list(path[len(found) :]) if len(path) > len(found) else []
        if len(rest) < 2 or not isinstance(rest[0], int) or isinstance(rest[1], int):
            return None
        lines = self.text.splitlines()[line - 1 :]
        opened, start = -1, None
        for offset, text in enumerate(lines):
            if offset and _HEADER.match(text):
                return None
            opened += text.count("{")
            if opened >= rest[0]:
                start = offset
                break
        if start is None:
            return None
        key = re.compile(rf"(^|[{{,\s]){re.escape(str(rest[1]))}\s*=")
        for offset, text in enumerate(lines[start:], start=start):
            if offset > start and _HEADER.match(text):
                return None
            if key.search(text):
                return line + offset
        return None

    def error(self, path: tuple[object, ...], message: str, hint: str | None = None) -> ConfigError:
        line = self.line_of(path)
        where = f"{self.name}:{line}" if line else self.name
        key = dotted(path) or "(top level)"
        return ConfigError(
            f"{where}: {key}: {message}",
            f"{hint}; nothing was changed" if hint else "nothing was changed",
        )

    def unknown(self, path: tuple[object, ...], known: tuple[str, ...]) -> ConfigError:
        """An unknown key, with the closest known one as a suggestion."""
        close = difflib.get_close_matches(str(path[-1]), known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
        return self.error(path, "unknown key", hint)


def dotted(path: tuple[object, ...]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out
