"""The nodes benchmark: `server list` across 3 remote nodes holding N instances each,
against one node holding 3N (the target: within 1.5x).

Two labs, each in its own harness namespaces:
- single: one node; labcloud and the 3N instances on its own libvirtd;
- multi: a control node (roles control and network) and 3 compute nodes reached over
  SSH (own sshd and libvirtd each, joined by a management bridge); the scheduler
  spreads the 3N instances over them.
Instances are made by labcloud's compute service and powered off (bench/populate.py).
`server list` syncs every instance's state: one getAllDomainStats per node, the nodes
asked in parallel, so its cost should not grow with the number of nodes. Each list is a
fresh `labcloud server list -f json` process in its lab, timed inside the node
(bench/timer.py), the two labs alternating round by round; medians are reported.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from tests.harness.cluster import client_key, join_management, start_sshd
from tests.harness.node import VENV_BIN, Node, start_node

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results" / "nodes.json"
PYTHON = str(VENV_BIN / "python")
LABCLOUD = str(VENV_BIN / "labcloud")
TARGET = 1.5
# Thousands of stopped nano servers on a few nodes: overcommit as a lab would.
SCHEDULER = "[scheduler]\ncpu_allocation_ratio = 1024.0\nram_allocation_ratio = 16.0\n"


def _log(msg: str) -> None:
    print(f"[bench nodes] {msg}", file=sys.stderr, flush=True)


def _prepare(node: Node) -> None:
    node.labcloud("init")
    node.labcloud("image", "create", "tiny", "--builtin")
    # One throw-away server: the accelerator probe (cached per boot) is paid up front.
    node.labcloud("server", "create", "warmup", "--image", "tiny", "--flavor", "m1.nano")
    node.labcloud("server", "delete", "warmup")


def _populate(node: Node, count: int, workers: int) -> dict[str, Any]:
    argv = [PYTHON, str(BENCH_DIR / "populate.py"), "--count", str(count)]
    proc = node.run([*argv, "--workers", str(workers)], timeout=count * 30 + 600)
    return dict(json.loads(proc.stdout))


def _time_list(node: Node) -> tuple[float, int]:
    plan = {
        "rounds": 1,
        "warmup": 0,
        "commands": [{"label": "list", "argv": [LABCLOUD, "server", "list", "-f", "json"]}],
    }
    out = node.run([PYTHON, str(BENCH_DIR / "timer.py")], input=json.dumps(plan), timeout=600)
    res = json.loads(out.stdout)["list"]
    if res["failed"]:
        raise RuntimeError(f"server list failed: {res['failed']}")
    return res["times"][0], len(json.loads(res["last_stdout"]))


def run(per_node: int, rounds: int, workers: int) -> int:
    started: list[Node] = []
    try:
        single = start_node("bench-one", lab_extra=SCHEDULER)
        started.append(single)
        control = start_node(
            "bench-ctl", lab_extra=SCHEDULER + '[local_node]\nroles = ["control", "network"]\n'
        )
        started.append(control)
        members = []
        for i in (1, 2, 3):
            started.append(start_node(f"bench-n{i}"))
            members.append((started[-1], f"10.98.0.{10 + i}/24"))
        join_management(control, "10.98.0.1/24", members)
        key = client_key(control.workdir / "ssh-client")
        control.labcloud("init")
        for node, addr in members:
            ssh = start_sshd(node, addr.split("/")[0], key)
            control.labcloud(
                "node", "add", node.name, "--host", ssh.address, "--key", str(key),
                "--trust-fingerprint", ssh.fingerprint,
            )  # fmt: skip
        for lab in (single, control):
            _prepare(lab)
        t0 = time.perf_counter()
        made_single = _populate(single, 3 * per_node, workers)
        _log(f"single: {made_single['count']} instances in {time.perf_counter() - t0:.0f} s")
        t0 = time.perf_counter()
        made_multi = _populate(control, 3 * per_node, workers)
        _log(f"multi: {made_multi['count']} instances in {time.perf_counter() - t0:.0f} s")
        spread = {
            row["Name"]: row["Servers"]
            for row in json.loads(control.labcloud("node", "list", "-f", "json").stdout)
        }
        times: dict[str, list[float]] = {"single": [], "multi": []}
        listed: dict[str, int] = {}
        for _ in range(rounds + 1):  # the first round warms both labs up, unrecorded
            for label, lab in (("single", single), ("multi", control)):
                took, count = _time_list(lab)
                times[label].append(took)
                listed[label] = count
        med = {k: statistics.median(v[1:]) for k, v in times.items()}
        ratio = med["multi"] / med["single"]
        result = {
            "per_node": per_node,
            "instances_listed": listed,
            "multi_servers_per_node": spread,
            "median_s": med,
            "all_s": times,
            "ratio": ratio,
            "target": TARGET,
            "met": ratio <= TARGET,
            "populate": {"single": made_single, "multi": made_multi},
        }
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        print(
            f"server list: 1 node x {listed['single']}: {med['single']:.3f} s; "
            f"3 nodes ({spread}) x {listed['multi']}: {med['multi']:.3f} s; "
            f"ratio {ratio:.2f} (target <= {TARGET}: {'met' if ratio <= TARGET else 'NOT met'})"
        )
        return 0
    finally:
        for node in reversed(started):
            node.stop()
