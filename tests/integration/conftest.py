"""Fixtures for integration tests: isolated nodes with their own libvirtd.

Every test here is marked `integration` and needs root, libvirtd, virtlogd, QEMU
and util-linux's unshare/nsenter. Without them a test skips, or fails under CI=true.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.node import Node, start_node
from tests.harness.requirements import require_root_and_tools

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # This hook sees the whole session's items: mark only the ones below here.
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _integration_requirements() -> None:
    require_root_and_tools()


@pytest.fixture(scope="session")
def node() -> Iterator[Node]:
    """One node shared by the whole session; stopped at the end, whatever happened."""
    require_root_and_tools()
    started = start_node("node")
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def fresh_node() -> Iterator[Node]:
    """A node of the test's own, stopped when the test ends."""
    require_root_and_tools()
    started = start_node("fresh")
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def lab(node: Node) -> Node:
    """The session node with labcloud's state initialised and the built-in tiny image."""
    node.labcloud("init")
    if node.labcloud("image", "show", "tiny", check=False).returncode != 0:
        node.labcloud("image", "create", "tiny", "--builtin")
    return node


@pytest.fixture
def made(lab: Node) -> Iterator[list[tuple[str, str]]]:
    """(kind, name) of what a test made, deleted in reverse order whatever happened."""
    things: list[tuple[str, str]] = []
    yield things
    for kind, name in reversed(things):
        lab.labcloud(kind, "delete", name, check=False)
