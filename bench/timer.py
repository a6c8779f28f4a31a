"""Run inside a harness node: time commands as fresh processes, alternating between them.

Reads a plan (JSON) on stdin:
    {"rounds": 5, "warmup": 1,
     "commands": [{"label": "...", "argv": [...], "env": {...}, "after": [[...], ...]}]}
Each round runs every command once, in order, so slow drift (page cache, a busy
libvirtd) hits all of them alike. `{i}` in an argv is replaced by a number unique
to the run. `after` commands (clean-up) run untimed after each run. Warm-up runs
are not recorded. Timing is taken here, inside the node, so nsenter's start-up cost
is not in the figures.

Writes {label: {"times": [...], "failed": [...], "last_stdout": "..."}} on stdout.
Self-contained on purpose: run with the venv's python, by path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def _fill(argv: list[str], i: int) -> list[str]:
    return [arg.replace("{i}", str(i)) for arg in argv]


def main() -> int:
    plan = json.load(sys.stdin)
    results: dict[str, dict] = {
        c["label"]: {"times": [], "failed": [], "last_stdout": ""} for c in plan["commands"]
    }
    run_no = 0
    for rnd in range(plan.get("warmup", 0) + plan["rounds"]):
        recorded = rnd >= plan.get("warmup", 0)
        for cmd in plan["commands"]:
            run_no += 1
            env = {**os.environ, **cmd.get("env", {})}
            t0 = time.perf_counter()
            proc = subprocess.run(
                _fill(cmd["argv"], run_no),
                capture_output=True,
                text=True,
                env=env,
                stdin=subprocess.DEVNULL,
                check=False,
            )
            took = time.perf_counter() - t0
            res = results[cmd["label"]]
            if proc.returncode != 0:
                res["failed"].append(
                    f"exit {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-1000:]}"
                )
            elif recorded:
                res["times"].append(took)
            res["last_stdout"] = proc.stdout
            for after in cmd.get("after", []):
                subprocess.run(
                    _fill(after, run_no),
                    capture_output=True,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    check=False,
                )
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
