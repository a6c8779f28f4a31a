"""Run inside a harness node: add COUNT servers through labcloud's own compute service.

Every server is made by `ComputeService.create` (overlay disk, defined domain,
started) and then powered off with `stop(timeout=0)`, so the lab ends up with COUNT
real, defined, shut-off libvirt domains and matching rows: what `server list` syncs.
500 running TCG guests would not fit on a small machine, hence the stop.

Workers are separate processes, each with its own Lab (store, libvirt connection),
as several labcloud commands running at once would be. Prints one JSON object.

Self-contained on purpose: it runs with the venv's python inside the node, by path.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time


def _work(prefix: str, start: int, count: int, step: int, image: str, flavor: str) -> dict:
    from labcloud.lab import Lab

    lab = Lab.open()
    created: list[float] = []
    stopped: list[float] = []
    for i in range(start, count, step):
        name = f"{prefix}{i:04d}"
        t0 = time.perf_counter()
        lab.compute.create(name, image, flavor)
        t1 = time.perf_counter()
        lab.compute.stop(name, timeout=0)  # power off at once: no ACPI grace period
        t2 = time.perf_counter()
        created.append(t1 - t0)
        stopped.append(t2 - t1)
    return {"create": created, "stop": stopped}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--prefix", default="bulk-")
    p.add_argument("--image", default="tiny")
    p.add_argument("--flavor", default="m1.nano")
    p.add_argument("--workers", type=int, default=1)
    # Internal: this process is worker K of --workers.
    p.add_argument("--worker", type=int, default=None)
    a = p.parse_args()

    if a.worker is not None:
        out = _work(a.prefix, a.worker, a.count, a.workers, a.image, a.flavor)
        json.dump(out, sys.stdout)
        return 0

    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, *sys.argv[1:], "--worker", str(k)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(a.workers)
    ]
    created: list[float] = []
    stopped: list[float] = []
    errors: list[str] = []
    for proc in procs:
        stdout, stderr = proc.communicate()
        if proc.returncode != 0:
            errors.append(stderr.strip()[-2000:] or f"worker exited {proc.returncode}")
            continue
        part = json.loads(stdout)
        created += part["create"]
        stopped += part["stop"]
    wall = time.perf_counter() - t0
    json.dump(
        {
            "count": len(created),
            "workers": a.workers,
            "wall_s": wall,
            "create_median_s": statistics.median(created) if created else None,
            "stop_median_s": statistics.median(stopped) if stopped else None,
            "errors": errors,
        },
        sys.stdout,
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
