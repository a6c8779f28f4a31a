"""The keyed table diff, as a refresh sees it: the cursor stays on its resource."""

from __future__ import annotations

from labcloud.screens.diff import matches, plan

WEB1 = ("web1", ("web1", "ACTIVE"))
WEB2 = ("web2", ("web2", "ACTIVE"))
DB1 = ("db1", ("db1", "SHUTOFF"))


def test_a_status_change_updates_one_cell_and_keeps_the_cursor() -> None:
    todo = plan([WEB1, WEB2, DB1], [WEB1, ("web2", ("web2", "PAUSED")), DB1], "web2", 1)
    assert not todo.rebuild
    assert todo.changed == (("web2", 1, "PAUSED"),)
    assert todo.added == () and todo.removed == ()
    assert todo.cursor == 1


def test_a_row_deleted_above_the_cursor_keeps_the_cursor_on_its_server() -> None:
    todo = plan([WEB1, WEB2, DB1], [WEB2, DB1], "db1", 2)
    assert todo.removed == ("web1",)
    assert todo.cursor == 1  # db1 moved up one row; the cursor followed it


def test_new_rows_are_appended_without_touching_the_others() -> None:
    todo = plan([WEB1], [WEB1, WEB2], "web1", 0)
    assert not todo.rebuild
    assert todo.added == (WEB2,) and todo.changed == ()
    assert todo.cursor == 0


def test_when_the_cursor_row_is_gone_the_cursor_stays_in_place() -> None:
    assert plan([WEB1, WEB2, DB1], [WEB1, WEB2], "db1", 2).cursor == 1
    assert plan([WEB1], [], "web1", 0).cursor is None


def test_a_new_order_rebuilds_and_the_cursor_follows_the_key() -> None:
    todo = plan([WEB1, WEB2, DB1], [DB1, WEB1, WEB2], "web2", 1)
    assert todo.rebuild
    assert todo.added == (DB1, WEB1, WEB2)
    assert todo.cursor == 2


def test_a_row_inserted_in_the_middle_rebuilds() -> None:
    assert plan([WEB1, DB1], [WEB1, WEB2, DB1], "db1", 1).rebuild


def test_the_filter_is_a_case_insensitive_substring_of_any_column() -> None:
    assert matches(("web1", "ACTIVE"), "act")
    assert matches(("web1", "ACTIVE"), "WEB")
    assert not matches(("web1", "ACTIVE"), "shutoff")
    assert matches(("web1", "ACTIVE"), "")
