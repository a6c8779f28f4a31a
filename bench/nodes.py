"""The nodes benchmark: `server list` across 3 remote nodes holding N instances each,
against one node holding 3N (the target: within 1.5x).

Two labs, each in its own harness namespaces:
- single: one node; labcloud and the 3N instances on its own libvirtd;
- multi: a control node (roles control and network) and 3 compute nodes reached over
  SSH (own sshd and libvirtd each, joined by a management bridge), N instances each.
Each lab gets one real server made by labcloud (the template, then stopped); the rest are
copies (bench/bulk_define.py): store rows like the template's, and its domain XML
defined under each copy's UUID on the node it is placed on, never started. That is
what `server list` syncs: one getAllDomainStats per node, the nodes asked in parallel.
Each list is a fresh `labcloud server list -f json` process in its lab, timed inside the
node (bench/timer.py), round by round in turn: the single node; the 3 nodes through the
lab's node broker (its kept SSH and libvirt connections, labcloud/broker.py); and the 3
nodes with LABCLOUD_NO_BROKER=1 (each command dials every node itself). Medians reported.
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


def _populate(lab: Node, holders: dict[str, Node], per_node: int) -> dict[str, Any]:
    """One real server per lab (the template), then per_node copies on each holder."""
    t0 = time.perf_counter()
    tmpl_node = next(iter(holders))
    lab.labcloud(
        "server", "create", "tmpl", "--image", "tiny", "--flavor", "m1.nano",
        *([] if tmpl_node == "local" else ["--node", tmpl_node]),
    )  # fmt: skip
    lab.labcloud("server", "stop", "tmpl", "--timeout", "0")
    server_id = json.loads(lab.labcloud("server", "show", "tmpl", "-f", "json").stdout)["id"]
    xml = lab.workdir / "tmpl.xml"
    xml.write_text(holders[tmpl_node].virsh("dumpxml", f"labcloud-{server_id}").stdout)
    bulk = [PYTHON, str(BENCH_DIR / "bulk_define.py")]
    for name, holder in holders.items():
        rows = [*bulk, "rows", "--template", "tmpl", "--count", str(per_node), "--node", name]
        ids = lab.run([*rows, "--prefix", f"{name[-2:]}-"], timeout=600).stdout
        ids_file = lab.workdir / f"ids-{name}.json"
        ids_file.write_text(ids)
        holder.run([*bulk, "domains", "--xml", str(xml), "--ids", str(ids_file)], timeout=600)
    return {"count": per_node * len(holders) + 1, "wall_s": time.perf_counter() - t0}


def _wait_broker(control: Node) -> None:
    sock = control.state_dir / "broker.sock"
    deadline = time.monotonic() + 60
    while not sock.exists():
        if time.monotonic() > deadline:
            raise RuntimeError("the node broker did not start")
        time.sleep(0.2)


def _time_lists(labs: list[tuple[str, Node, dict[str, str]]], rounds: int) -> dict[str, Any]:
    argv = [LABCLOUD, "server", "list", "-f", "json"]
    results: dict[str, Any] = {}
    plans = {
        label: {"rounds": 1, "warmup": 0, "commands": [{"label": label, "argv": argv, "env": env}]}
        for label, _lab, env in labs
    }
    times: dict[str, list[float]] = {label: [] for label, _lab, _env in labs}
    for _ in range(rounds + 1):  # the first round warms every lab up, unrecorded
        for label, lab, _env in labs:
            out = lab.run(
                [PYTHON, str(BENCH_DIR / "timer.py")], input=json.dumps(plans[label]), timeout=600
            )
            res = json.loads(out.stdout)[label]
            if res["failed"]:
                raise RuntimeError(f"server list ({label}) failed: {res['failed']}")
            times[label].append(res["times"][0])
            results[label] = len(json.loads(res["last_stdout"]))
    return {"times": times, "listed": results}


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
        made_single = _populate(single, {"local": single}, 3 * per_node)
        _log(f"single: {made_single['count']} instances in {made_single['wall_s']:.0f} s")
        made_multi = _populate(control, {n.name: n for n, _addr in members}, per_node)
        _log(f"multi: {made_multi['count']} instances in {made_multi['wall_s']:.0f} s")
        _wait_broker(control)
        spread = {
            row["Name"]: row["Servers"]
            for row in json.loads(control.labcloud("node", "list", "-f", "json").stdout)
        }
        timed = _time_lists(
            [
                ("single", single, {}),
                ("multi", control, {}),
                ("multi_no_broker", control, {"LABCLOUD_NO_BROKER": "1"}),
            ],
            rounds,
        )
        times, listed = timed["times"], timed["listed"]
        med = {k: statistics.median(v[1:]) for k, v in times.items()}
        ratio = med["multi"] / med["single"]
        result = {
            "per_node": per_node,
            "instances_listed": listed,
            "multi_servers_per_node": spread,
            "median_s": med,
            "all_s": times,
            "ratio": ratio,
            "ratio_no_broker": med["multi_no_broker"] / med["single"],
            "target": TARGET,
            "met": ratio <= TARGET,
            "populate": {"single": made_single, "multi": made_multi},
        }
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        print(
            f"server list: 1 node x {listed['single']}: {med['single']:.3f} s; "
            f"3 nodes ({spread}) x {listed['multi']}: {med['multi']:.3f} s; "
            f"ratio {ratio:.2f} (target <= {TARGET}: {'met' if ratio <= TARGET else 'NOT met'}); "
            f"without the broker {med['multi_no_broker']:.3f} s, "
            f"ratio {result['ratio_no_broker']:.2f}"
        )
        return 0
    finally:
        for node in reversed(started):
            node.stop()
