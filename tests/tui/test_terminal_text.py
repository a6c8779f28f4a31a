"""What the serial console widget shows for the bytes a guest sends, and what keys send."""

from __future__ import annotations

from labcloud.screens.terminal_text import ScreenText, key_bytes


def test_a_prompt_with_a_cursor_query_shows_as_plain_text() -> None:
    screen = ScreenText()
    screen.feed("\r\nc1:~# \x1b[6n\r\nc1:~# echo hi\r\nhi\r\n")
    assert screen.lines == ["", "c1:~# ", "c1:~# echo hi", "hi", ""]


def test_an_escape_split_across_two_reads_is_still_dropped() -> None:
    screen = ScreenText()
    screen.feed("ok\x1b[3")
    screen.feed("1mred\x1b[0m")
    assert screen.lines == ["okred"]


def test_backspace_and_carriage_return_rewrite_the_line() -> None:
    screen = ScreenText()
    screen.feed("abc\b\bX\rZ")
    assert screen.lines == ["ZXc"]


def test_only_the_last_lines_are_kept() -> None:
    screen = ScreenText(keep=3)
    screen.feed("1\n2\n3\n4\n5")
    assert screen.lines == ["3", "4", "5"]


def test_keys_become_what_a_terminal_sends() -> None:
    assert key_bytes("enter", "\r") == b"\r"
    assert key_bytes("ctrl+c", None) == b"\x03"
    assert key_bytes("up", None) == b"\x1b[A"
    assert key_bytes("a", "a") == b"a"
    assert key_bytes("é", "é") == "é".encode()
    assert key_bytes("f5", None) is None
