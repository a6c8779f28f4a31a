"""A pilot story on a lab with remote nodes. It runs inside the control node of
tests/integration/test_nodes_broker.py, which sets LABCLOUD_TUI_IN_CLUSTER and LABCLOUD_LAB;
run directly it skips."""

from __future__ import annotations

import os

import pytest
from labcloud.screens.resource import ResourceView

from labcloud.lab import Lab

IN_CLUSTER = os.environ.get("LABCLOUD_TUI_IN_CLUSTER") == "1"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not IN_CLUSTER:
        skip = pytest.mark.skip(reason="runs in a cluster: tests/integration/test_nodes_broker.py")
        for item in items:
            if "in_cluster" in str(item.path):
                item.add_marker(skip)


@pytest.fixture
def lab(monkeypatch: pytest.MonkeyPatch) -> Lab:
    # Changes must arrive by the change watch, never by the safety-net timer.
    monkeypatch.setattr(ResourceView, "interval", 3600.0)
    return Lab.open()
