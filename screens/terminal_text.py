"""Turning a serial console's bytes into lines for the screen, and keys into bytes.

Pure logic, no Textual: the guest's control sequences (cursor queries, colours) are
dropped, carriage returns and backspaces are applied to the current line.
"""

from __future__ import annotations

import re

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), and two-byte escapes.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")

KEYS = {
    "enter": b"\r",
    "tab": b"\t",
    "backspace": b"\x7f",
    "escape": b"\x1b",
    "up": b"\x1b[A",
    "down": b"\x1b[B",
    "right": b"\x1b[C",
    "left": b"\x1b[D",
    "home": b"\x1b[H",
    "end": b"\x1b[F",
    "delete": b"\x1b[3~",
}


def key_bytes(key: str, character: str | None) -> bytes | None:
    """What a key press sends to the guest; None for keys it does not take."""
    if key in KEYS:
        return KEYS[key]
    if key.startswith("ctrl+") and len(key) == 6 and key[5].isalpha():
        return bytes([ord(key[5]) - ord("a") + 1])
    if character and character.isprintable():
        return character.encode()
    return None


class ScreenText:
    """The console's lines, at most `keep` of them, the last one still being written."""

    def __init__(self, keep: int = 2000) -> None:
        self.lines: list[str] = [""]
        self.keep = keep
        self._col = 0
        self._pending = ""  # an escape sequence cut in two by a read

    def feed(self, text: str) -> None:
        text = self._pending + text
        self._pending = ""
        cut = text.rfind("\x1b")
        if cut != -1 and not _ESCAPES.match(text, cut) and len(text) - cut < 32:
            text, self._pending = text[:cut], text[cut:]
        text = _ESCAPES.sub("", text)
        for ch in text:
            if ch == "\n":
                self.lines.append("")
                self._col = 0
            elif ch == "\r":
                self._col = 0
            elif ch in "\b\x7f":
                self._col = max(0, self._col - 1)
            elif ch == "\t":
                self._put(" " * (8 - self._col % 8))
            elif ch.isprintable():
                self._put(ch)
        if len(self.lines) > self.keep:
            del self.lines[: len(self.lines) - self.keep]

    def _put(self, text: str) -> None:
        line = self.lines[-1]
        line = line.ljust(self._col)
        self.lines[-1] = line[: self._col] + text + line[self._col + len(text) :]
        self._col += len(text)

    def text(self) -> str:
        return "\n".join(self.lines)
