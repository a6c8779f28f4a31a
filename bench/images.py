"""The images benchmark: import a 1 GiB image against cp and qemu-img convert.

Inside one isolated harness node, on the disk that holds the state directory:
1. a 1 GiB raw image of random bytes (nothing sparse or compressible to shortcut);
2. `labcloud image create --file` (stream, sha256, fsync, rename), `cp` and
   `qemu-img convert -O raw` of the same file to the same disk, each made durable by
   bench/durable.py as labcloud's import is, alternating in rounds (bench/timer.py);
3. throughput = size / median time; labcloud/this = labcloud's throughput over this
   command's (target: >= 0.8), plus `openssl dgst -sha256` as a reference: a store
   addressed by sha256 cannot import faster than one core hashes. This prints figures;
   it asserts nothing.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from tests.harness.node import VENV_BIN, Node, NodeCommandError, NodeError, start_node

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results" / "images.json"
PYTHON = str(VENV_BIN / "python")
LABCLOUD = str(VENV_BIN / "labcloud")
DURABLE = str(BENCH_DIR / "durable.py")
TARGET = 0.8
MIB = 1024 * 1024


def _log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def _random_file(path: Path, size: int) -> None:
    with open(path, "wb") as fh:
        left = size
        while left:
            chunk = min(left, 64 * MIB)
            fh.write(os.urandom(chunk))
            left -= chunk
        fh.flush()
        os.fsync(fh.fileno())


def _commands(node: Node, src: Path) -> list[dict[str, Any]]:
    out = str(node.workdir / "bench-out-{i}.raw")
    return [
        {
            "label": "labcloud",
            "argv": [LABCLOUD, "image", "create", "bench-{i}", "--file", str(src)],
            "after": [[LABCLOUD, "image", "delete", "bench-{i}"]],
        },
        {
            "label": "cp",
            "argv": [PYTHON, DURABLE, out, "--", "cp", str(src), out],
            "after": [["rm", "-f", out]],
        },
        {
            "label": "qemu-img",
            "argv": [
                *(PYTHON, DURABLE, out, "--"),
                *("qemu-img", "convert", "-f", "raw", "-O", "raw", str(src), out),
            ],
            "after": [["rm", "-f", out]],
        },
        # The floor of any sha256-addressed store: hashing the bytes once, nothing written.
        {"label": "sha256", "argv": ["openssl", "dgst", "-sha256", str(src)]},
        # What every labcloud command pays before any work: start-up, imports, the store.
        {"label": "floor", "argv": [LABCLOUD, "image", "list", "-f", "value"]},
    ]


def run(rounds: int = 3, size_gib: float = 1.0) -> int:
    if os.geteuid() != 0:
        print("bench images: must run as root (the harness makes namespaces)", file=sys.stderr)
        return 2
    size = int(size_gib * 1024 * MIB)
    try:
        node = start_node("bench-img")
    except NodeError as exc:
        print(f"bench images: {exc}", file=sys.stderr)
        return 1
    try:
        node.labcloud("init")
        src = node.workdir / "bench-src.raw"
        _log(f"writing {size / MIB:.0f} MiB of random bytes to {src.name}")
        _random_file(src, size)
        plan = {"rounds": rounds, "warmup": 1, "commands": _commands(node, src)}
        _log(f"timing {rounds} rounds (+1 warm-up) of each command, alternating")
        # Two cores shared with other work: the load says how much the figures can be trusted.
        load_before = os.getloadavg()
        proc = node.run([PYTHON, str(BENCH_DIR / "timer.py")], input=json.dumps(plan), timeout=3600)
        load_after = os.getloadavg()
        res = json.loads(proc.stdout)
    except NodeCommandError as exc:
        print(f"bench images: {exc}", file=sys.stderr)
        return 1
    finally:
        node.stop()

    rows = []
    for label, what in (
        ("labcloud", "labcloud image create --file (sha256, fsync)"),
        ("cp", "cp + fsync"),
        ("qemu-img", "qemu-img convert -O raw + fsync"),
        ("sha256", "openssl dgst -sha256 (reference: hashing floor)"),
        ("floor", "labcloud image list (reference: start-up floor)"),
    ):
        times = res[label]["times"]
        median = statistics.median(times) if times else None
        rows.append(
            {
                "label": label,
                "command": what,
                "runs": len(times),
                "median_s": median,
                "times_s": times,
                "mib_per_s": size / MIB / median if median and label != "floor" else None,
                "failed": res[label]["failed"][:3],
            }
        )
    lab = rows[0]
    for row in rows[1:4]:
        if lab["mib_per_s"] and row["mib_per_s"]:
            row["ratio"] = lab["mib_per_s"] / row["mib_per_s"]
            if row["label"] in ("cp", "qemu-img"):
                row["met"] = row["ratio"] >= TARGET
    print(f"\nimages: import of {size / MIB:.0f} MiB, median of {rounds} runs each\n")
    print(f"{'command':48} {'median s':>9} {'MiB/s':>8} {'labcloud/this':>14}  target")
    for row in rows:
        ratio = f"{row['ratio']:.2f}x" if "ratio" in row else "-"
        target = ("met" if row["met"] else "NOT met") if "met" in row else "-"
        median = f"{row['median_s']:.2f}" if row["median_s"] else "-"
        rate = f"{row['mib_per_s']:.0f}" if row["mib_per_s"] else "-"
        print(f"{row['command']:48} {median:>9} {rate:>8} {ratio:>14}  {target}")
        for failure in row["failed"]:
            print(f"  FAILED: {failure}")
    print(f"labcloud/this: labcloud's throughput over this command's (target >= {TARGET}x)")
    loads = " / ".join(f"{x:.2f}" for x in (*load_before, *load_after))
    print(f"load average (1/5/15 min) before / after timing: {loads} on {os.cpu_count()} CPUs")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "size": size,
                "rounds": rounds,
                "at": time.time(),
                "load": {"before": load_before, "after": load_after},
                "rows": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nresults: {RESULTS}")
    return 0
