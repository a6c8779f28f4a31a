"""The TUI benchmark: a lab of N defined, mostly stopped instances in one harness node.

1. populate N servers through labcloud's compute service, powered off (bench/populate.py);
2. the TUI's figures (bench/tui_probe.py, inside the node): time to first paint, key press
   to updated table, an externally created server appearing, memory after M minutes of
   live updates;
3. for comparison, `virsh list --all` and `kcli list vm` on the same lab, each a fresh
   process (bench/timer.py), median of the rounds.
Prints a table and writes bench/results/tui.json. It asserts nothing about timing.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.foundation import (
    KCLI,
    KCLI_CONFIG,
    PYTHON,
    _log,
    _missing_requirements,
    _timed,
    ensure_kcli,
    populate,
)
from tests.harness.node import URI, NodeCommandError, NodeError, start_node

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results" / "tui.json"


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _peers(node: Any, rounds: int, kcli_problem: str | None) -> dict[str, Any]:
    commands: list[dict[str, Any]] = [
        {"label": "virsh", "argv": ["virsh", "-c", URI, "list", "--all"]}
    ]
    if kcli_problem is None:
        home = node.workdir / "kcli-home"
        (home / ".kcli").mkdir(parents=True, exist_ok=True)
        (home / ".kcli" / "config.yml").write_text(KCLI_CONFIG)
        commands.append(
            {"label": "kcli", "argv": [str(KCLI), "list", "vm"], "env": {"HOME": str(home)}}
        )
    return _timed(node, {"rounds": rounds, "warmup": 1, "commands": commands}, timeout=1800)


def measure(node: Any, rounds: int, minutes: float, kcli_problem: str | None) -> dict[str, Any]:
    """The TUI's figures and its peers' on a node that already holds the servers."""
    _log("the TUI's figures")
    probe_argv = [PYTHON, str(BENCH_DIR / "tui_probe.py"), "--rounds", str(rounds)]
    probe = node.run([*probe_argv, "--minutes", str(minutes)], timeout=3600 + minutes * 60)
    _log("virsh and kcli")
    return {"tui": json.loads(probe.stdout), "peers": _peers(node, rounds, kcli_problem)}


def report(result: dict[str, Any]) -> None:
    tui, peers, rounds, minutes = (
        result["tui"],
        result["peers"],
        result["rounds"],
        result["minutes"],
    )
    rows = [
        ("TUI first paint (labcloud tui servers, pty)", _median(tui["first_paint_s"])),
        ("TUI key press -> table of every server", _median(tui["key_to_table_s"])),
        ("TUI external create -> row shown (no key)", _median(tui["external_appear_s"])),
        ("virsh list --all", _median(peers["virsh"]["times"])),
        ("kcli list vm", _median(peers.get("kcli", {}).get("times", []))),
    ]
    print(f"\ntui: {tui['servers']} servers in the lab, median of {rounds} runs\n")
    for label, value in rows:
        print(f"{label:48} {'-' if value is None else f'{value:.3f} s'}")
    print(
        f"{'TUI memory: start -> after ' + str(minutes) + ' min of live updates':48} "
        f"{tui['rss_start_mib']:.0f} MiB -> {tui['rss_after_mib']:.0f} MiB"
    )
    curve = tui.get("rss_curve_mib", [])
    print("TUI memory every minute (MiB):  " + " ".join(f"{mib:.0f}" for _, mib in curve))
    if churn := tui.get("churn"):
        print(f"live updates meanwhile: {churn['cycles']} churn cycles, {churn['errors']} refused")
    if result.get("kcli_problem"):
        print(f"kcli not run: {result['kcli_problem']}")


def run(instances: int = 1000, rounds: int = 5, workers: int = 3, minutes: float = 10) -> int:
    if problems := _missing_requirements():
        print("bench tui: " + "; ".join(problems), file=sys.stderr)
        return 2
    started = time.perf_counter()
    kcli_problem = ensure_kcli()
    try:
        node = start_node("benchtui")
    except NodeError as exc:
        print(f"bench tui: {exc}", file=sys.stderr)
        return 1
    result: dict[str, Any] = {"instances": instances, "rounds": rounds, "minutes": minutes}
    try:
        node.labcloud("init")
        node.labcloud("image", "create", "tiny", "--builtin")
        _log(f"populating {instances} instances with {workers} workers")
        result["populate"] = populate(node, instances, workers)
        result.update(measure(node, rounds, minutes, kcli_problem))
    except NodeCommandError as exc:
        print(f"bench tui: {exc}", file=sys.stderr)
        return 1
    finally:
        node.stop()
    result["total_s"] = time.perf_counter() - started
    result["kcli_problem"] = kcli_problem
    report(result)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nresults: {RESULTS}")
    return 0
