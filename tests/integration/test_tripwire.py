"""The host tripwire catches a test that leaks into the namespace it runs in, and names
the test file. Each story runs a child pytest inside a throwaway network and mount
namespace made for it (with a private /run), so the leak stays in there."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CLEAN = """
import subprocess

def test_a_veth_made_and_removed_again():
    veth = ["ip", "link", "add", "lcok0", "type", "veth", "peer", "name", "lcok1"]
    subprocess.run(veth, check=True)
    subprocess.run(["ip", "link", "del", "lcok0"], check=True)
"""

LEAKY = """
import subprocess

def run(*argv):
    subprocess.run(list(argv), check=True)

def test_that_forgets_to_clean_up():
    run("ip", "link", "add", "lcleak0", "type", "veth", "peer", "name", "lcleak1")
    run("nft", "add", "table", "inet", "lcleak")
    run("ip", "netns", "add", "lcleak")

def test_that_removes_what_was_there_before():
    run("ip", "link", "del", "lcpre0")
"""

AFTER = """
def test_innocent():
    assert 1 + 1 == 2
"""


def child_pytest(tmp_path: Path, files: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """pytest with the tripwire over `files`, in a namespace of its own that already has
    one veth pair (lcpre0) before the run starts."""
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    script = (
        "mount -t tmpfs lc-run /run && ip link set lo up && "
        "ip link add lcpre0 type veth peer name lcpre1 && "
        'exec "$0" -m pytest -q -p no:cacheprovider -p tests.harness.tripwire "$1"'
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        ["unshare", "--net", "--mount", "--propagation", "private", "--",
         "sh", "-c", script, sys.executable, str(tmp_path)],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )  # fmt: skip


def test_a_leaking_test_fails_the_run_and_is_named(tmp_path: Path) -> None:
    run = child_pytest(
        tmp_path,
        {"test_a_clean.py": CLEAN, "test_b_leaky.py": LEAKY, "test_c_after.py": AFTER},
    )
    out = run.stdout + run.stderr
    assert "4 passed" in out, out  # the tests themselves pass: the tripwire fails the run
    assert run.returncode == pytest.ExitCode.TESTS_FAILED, out
    assert "host tripwire" in out
    for change in (
        "link appeared: lcleak0",
        "link appeared: lcleak1",
        "nftables appeared: table inet lcleak",
        "named netns appeared: lcleak",
        "mount under /run/netns appeared: /run/netns/lcleak",
        "link vanished: lcpre0",
    ):
        line = next((x for x in out.splitlines() if change in x), None)
        assert line is not None, f"{change!r} not reported:\n{out}"
        assert "(first after test_b_leaky.py)" in line, line
    assert "test_a_clean.py" not in out.split("host tripwire")[1]
    assert "lcok0" not in out


def test_a_run_that_leaves_the_namespace_as_it_was_passes(tmp_path: Path) -> None:
    run = child_pytest(tmp_path, {"test_a_clean.py": CLEAN, "test_c_after.py": AFTER})
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "2 passed" in out
    assert "host tripwire" not in out


BENCH_WITH_A_LEAK = """
import subprocess, sys
import bench.images
import bench.__main__ as cli

def leaky_run(rounds):
    subprocess.run(["ip", "link", "add", "lcleak0", "type", "veth", "peer", "name", "lcleak1"],
                   check=True)
    return 0

bench.images.run = leaky_run
sys.exit(cli.main(["images", "--rounds", "1"]))
"""


def test_the_same_tripwire_guards_python_m_bench(tmp_path: Path) -> None:
    """`python -m bench` with the images benchmark swapped for one that leaks a veth."""
    script = tmp_path / "leaky_bench.py"
    script.write_text(BENCH_WITH_A_LEAK)
    run = subprocess.run(
        ["unshare", "--net", "--mount", "--propagation", "private", "--",
         sys.executable, str(script)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr
    assert "bench: FAILED: the host's own network namespace changed" in run.stderr
    assert "link appeared: lcleak0 " in run.stderr
    assert "(first after the images benchmark)" in run.stderr
