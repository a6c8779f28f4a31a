"""The network benchmark, inside one isolated harness node:

1. port to answer: `port create` + `server add port` into a booted tiny server, until
   the new address answers a ping from the network's DHCP namespace (on the bridge);
2. `network topology` (-f json and the tree) with N networks and M ports, beside the raw
   cost of listing the same links with `ip -j -d link show` and `bridge -j link show`.

Every labcloud command runs as a cold process (no fork server) with `ip` and `nft`
shims first on PATH, so the figures come with how many `ip`/`nft` processes each made.
Bridges, VXLAN devices and addresses go through netlink (pyroute2), not processes.
This prints figures; it asserts nothing about timing.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from tests.harness.node import VENV_BIN, Node, NodeError, start_node

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results" / "network.json"
PYTHON = str(VENV_BIN / "python")
LABCLOUD = str(VENV_BIN / "labcloud")
COLD = {"LABCLOUD_NO_DAEMON": "1"}
REAL_IP = shutil.which("ip", path="/usr/sbin:/usr/bin:/sbin:/bin") or "/usr/sbin/ip"

# Made inside the node: creates networks, subnets and ports through the service layer.
POPULATE = """
import sys
from labcloud.lab import Lab
nets, ports = int(sys.argv[1]), int(sys.argv[2])
lab = Lab.open()
for n in range(nets):
    lab.network.create_network(f"bn{n}")
    lab.network.create_subnet(f"bs{n}", f"bn{n}", f"10.{100 + n // 200}.{n % 200}.0/24")
for p in range(ports):
    lab.network.create_port(f"bn{p % nets}")
"""

# Inside the node: one timed round of port create -> plugged -> answering.
PORT_ROUND = """
import json, subprocess, sys, time
labcloud, net, server, name, netns, ip_bin = sys.argv[1:7]
t0 = time.perf_counter()
out = subprocess.run([labcloud, "port", "create", name, "--network", net,
                      "--disable-port-security", "-f", "json"],
                     check=True, capture_output=True, text=True).stdout
ip = json.loads(out)["fixed_ips"].split("'")[1]
t_port = time.perf_counter()
subprocess.run([labcloud, "server", "add", "port", server, name], check=True)
t_plug = time.perf_counter()
while True:
    ping = subprocess.run([ip_bin, "netns", "exec", netns, "busybox", "ping", "-c", "1",
                           "-W", "1", ip], capture_output=True)
    if ping.returncode == 0:
        break
    if time.perf_counter() - t0 > 120:
        sys.exit("no answer from " + ip)
t1 = time.perf_counter()
print(json.dumps({"total": t1 - t0, "port_create": t_port - t0,
                  "add_port": t_plug - t_port, "until_answer": t1 - t_plug}))
"""


def _log(msg: str) -> None:
    print(f"bench network: {msg}", file=sys.stderr, flush=True)


def _shims(node: Node) -> tuple[dict[str, str], Path]:
    """`ip` and `nft` wrappers that log each call, first on PATH for labcloud's commands."""
    shim_dir = node.workdir / "shims"
    shim_dir.mkdir(exist_ok=True)
    log = node.workdir / "calls.log"
    for tool in ("ip", "nft"):
        real = shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin") or f"/usr/sbin/{tool}"
        shim = shim_dir / tool
        shim.write_text(f'#!/bin/sh\necho "{tool} $*" >>"{log}"\nexec {real} "$@"\n')
        shim.chmod(0o755)
    env = {**COLD, "PATH": f"{shim_dir}:{VENV_BIN}:/usr/sbin:/usr/bin:/sbin:/bin"}
    return env, log


def _calls(log: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    if log.exists():
        for line in log.read_text().splitlines():
            key = " ".join(line.split()[:2]) if line.startswith("ip") else line.split()[0]
            counts[key] = counts.get(key, 0) + 1
        log.unlink()
    return counts


def _timed(node: Node, argv: list[str], env: dict[str, str], rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        node.run(argv, env=env, timeout=600)
        times.append(time.perf_counter() - t0)
    return times


def _summary(times: list[float]) -> dict[str, float]:
    return {"median_s": round(statistics.median(times), 4), "min_s": round(min(times), 4)}


def run(networks: int = 50, ports: int = 500, rounds: int = 5) -> int:
    try:
        node = start_node("bench-net")
    except NodeError as exc:
        print(f"bench network: {exc}", file=sys.stderr)
        return 1
    result: dict[str, Any] = {"networks": networks, "ports": ports, "rounds": rounds}
    try:
        env, log = _shims(node)
        node.labcloud("init")
        node.labcloud("image", "create", "tiny", "--builtin")

        _log("booting one tiny server on a network")
        node.labcloud("network", "create", "pnet")
        node.labcloud(
            "subnet", "create", "psub", "--network", "pnet", "--subnet-range", "10.99.0.0/24"
        )
        node.labcloud(
            "server",
            "create",
            "target",
            "--image",
            "tiny",
            "--flavor",
            "m1.nano",
            "--network",
            "pnet",
            "--wait",
            timeout=600,
        )
        node.labcloud(
            "console", "log", "target", "--wait-for", "labcloud-tiny: ready", "--timeout", "180"
        )
        # The new ports go on a second network: a guest with two NICs in one subnet answers
        # from the first NIC, which port security rightly drops as spoofed.
        node.labcloud("network", "create", "qnet")
        node.labcloud(
            "subnet", "create", "qsub", "--network", "qnet", "--subnet-range", "10.98.0.0/24"
        )
        net_id = node.labcloud("network", "show", "qnet", "-f", "value", "-c", "id").stdout
        netns = "lcdhcp-" + net_id.strip().replace("-", "")[:8]
        _calls(log)
        rows = []
        for i in range(rounds):
            argv = [PYTHON, "-c", PORT_ROUND, LABCLOUD, "qnet", "target", f"bp{i}", netns]
            out = node.run([*argv, REAL_IP], env=env, timeout=300).stdout
            row = json.loads(out)
            row["calls"] = _calls(log)
            rows.append(row)
            node.labcloud("server", "remove", "port", "target", f"bp{i}")
            node.labcloud("port", "delete", f"bp{i}")
            _log(f"port to answer, round {i + 1}: {row['total']:.2f} s")
        result["port_to_answer"] = {
            key: _summary([r[key] for r in rows])
            for key in ("total", "port_create", "add_port", "until_answer")
        }
        result["port_to_answer"]["calls_per_round"] = rows[-1]["calls"]
        node.labcloud("server", "delete", "target")
        node.labcloud("port", "list")  # settle

        _log(f"populating {networks} networks and {ports} ports")
        t0 = time.perf_counter()
        node.run([PYTHON, "-c", POPULATE, str(networks), str(ports)], timeout=3600)
        result["populate_s"] = round(time.perf_counter() - t0, 1)
        _calls(log)
        for label, argv in (
            ("topology -f json", [LABCLOUD, "network", "topology", "-f", "json"]),
            ("topology (tree)", [LABCLOUD, "network", "topology"]),
            ("port list", [LABCLOUD, "port", "list", "-f", "json"]),
        ):
            times = _timed(node, argv, env, rounds)
            result[label] = {**_summary(times), "calls_per_run": _calls(log)}
            _log(f"{label}: median {result[label]['median_s']:.3f} s")
        for label, argv in (
            ("raw: ip -j -d link show", ["ip", "-j", "-d", "link", "show"]),
            ("raw: bridge -j link show", ["bridge", "-j", "link", "show"]),
        ):
            result[label] = _summary(_timed(node, argv, {}, rounds))
        links = json.loads(node.run(["ip", "-j", "link", "show"]).stdout)
        result["links_in_node"] = len(links)
    finally:
        node.stop()
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0
