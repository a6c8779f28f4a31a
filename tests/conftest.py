"""Repo-wide test setup.

Being a module of the `tests` package, this file makes pytest put the repository
root on sys.path (import mode "prepend"), so `tests.harness` imports however
pytest is started (`pytest`, `python -m pytest`, from any directory).
"""

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

RUNTIME_ENV = "LABCLOUD_RUNTIME_DIR"


@pytest.fixture(scope="session", autouse=True)
def _private_fork_servers() -> Iterator[None]:
    """Commands the tests run use fork servers of this session's own (labcloud/cli/forkserver.py),
    never a user's; the host-side one is stopped at the end. Those in harness nodes die with
    their node."""
    if os.environ.get(RUNTIME_ENV):
        yield
        return
    run_dir = tempfile.mkdtemp(prefix="lcrun-")
    os.environ[RUNTIME_ENV] = run_dir
    try:
        yield
    finally:
        exe = Path(sys.executable).with_name("labcloud")
        subprocess.run([str(exe), "daemon", "stop"], capture_output=True, timeout=60, check=False)
        del os.environ[RUNTIME_ENV]


# The host tripwire (tests/harness/tripwire.py): the run fails if the host's own network
# namespace differs at the end from how it was at the start.
from tests.harness.tripwire import (  # noqa: E402
    pytest_runtest_teardown,
    pytest_sessionfinish,
    pytest_sessionstart,
    pytest_terminal_summary,
)

__all__ = [
    "pytest_runtest_teardown",
    "pytest_sessionfinish",
    "pytest_sessionstart",
    "pytest_terminal_summary",
]
