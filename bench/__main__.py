"""`python -m bench [all|foundation|network|images|nodes|tui] [--instances N] [--rounds R]
[--workers W] [--networks N] [--ports M] [--per-node K] [--minutes M]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# The harness lives in tests/ at the repository root; make it importable from anywhere.
ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

BENCHMARKS = ("foundation", "network", "images", "nodes", "tui")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("benchmark", nargs="?", default="all", choices=("all", *BENCHMARKS))
    p.add_argument(
        "--instances", type=int, default=500, help="defined instances in the lab (default 500)"
    )
    p.add_argument("--rounds", type=int, default=5, help="timed runs per command (default 5)")
    p.add_argument(
        "--workers", type=int, default=3, help="processes that populate the lab (default 3)"
    )
    p.add_argument("--networks", type=int, default=50, help="networks for `network` (50)")
    p.add_argument("--ports", type=int, default=500, help="ports for `network` (500)")
    p.add_argument("--per-node", type=int, default=200, help="instances per node for `nodes` (200)")
    p.add_argument("--minutes", type=float, default=10, help="live updates for `tui` (10)")
    a = p.parse_args(argv)
    if a.instances < 0 or a.rounds < 1 or a.workers < 1:
        p.error("--instances must be >= 0, --rounds and --workers >= 1")

    from bench import foundation
    from tests.harness.tripwire import Tripwire, report

    # The host tripwire: the benchmarks, like the tests, leave the host namespace as it was.
    wire = Tripwire()
    status = 0
    for name in BENCHMARKS if a.benchmark == "all" else (a.benchmark,):
        if name == "foundation":
            status |= foundation.run(a.instances, a.rounds, a.workers)
        elif name == "network":
            from bench import network

            status |= network.run(a.networks, a.ports, a.rounds)
        elif name == "images":
            from bench import images

            status |= images.run(a.rounds)
        elif name == "nodes":
            from bench import nodes

            status |= nodes.run(a.per_node, a.rounds, a.workers)
        elif name == "tui":
            from bench import tui

            # The lab: 1,000 instances unless told otherwise.
            count = a.instances if "--instances" in (argv or sys.argv) else 1000
            status |= tui.run(count, a.rounds, a.workers, a.minutes)
        wire.checkpoint(f"the {name} benchmark")
    changes = wire.changes()
    if changes:
        print(f"bench: FAILED: {report(changes)}", file=sys.stderr)
        status |= 1
    return status


if __name__ == "__main__":
    sys.exit(main())
