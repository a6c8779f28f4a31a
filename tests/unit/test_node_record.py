"""A node's state is the newest look at it: an older heartbeat's answer is dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from labcloud.services.nodes.models import older


def test_a_look_begun_before_the_last_check_is_older_news() -> None:
    checked = datetime(2026, 11, 25, 4, 0, 0)  # as SQLite hands it back: no zone
    began = datetime(2026, 11, 25, 3, 59, 59, tzinfo=UTC)
    assert older(began, checked)
    assert not older(began + timedelta(seconds=2), checked)


def test_without_times_every_look_counts() -> None:
    now = datetime.now(UTC)
    assert not older(None, now)
    assert not older(now, None)
