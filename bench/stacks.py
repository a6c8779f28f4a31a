"""The stacks benchmark, inside one isolated harness node:

1. a 10-server lab (a network, a subnet, 10 m1.nano servers) made by `stack apply`, against
   the same servers made one by one with `labcloud server create` (the ratio is printed);
2. `stack plan` on an unchanged lab of 200 resources (networks, subnets, security groups
   with rules, volumes): through the warm fork server (how `labcloud` normally runs), as a
   cold CLI process (Python start-up and imports included), and as the service call alone.

Run: `python -m bench.stacks [--servers N] [--resources M] [--skip-servers]`. Prints
figures and writes bench/results/stacks.json; it asserts nothing about timing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests.harness.node import VENV_BIN, Node, start_node  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "stacks.json"
PYTHON = str(VENV_BIN / "python")
COLD = {"LABCLOUD_NO_DAEMON": "1"}

# Inside the node: the plan as a service call, after a warm-up (imports, first queries).
PLAN_IN_PROCESS = """
import sys, time
from labcloud.lab import Lab
lab = Lab.open()
lab.stacks.plan(sys.argv[1])
t = time.perf_counter()
loaded = lab.stacks.plan(sys.argv[1])
took = time.perf_counter() - t
assert not loaded.plan.actionable, loaded.plan.render()
print(took)
"""


def _log(msg: str) -> None:
    print(f"bench stacks: {msg}", file=sys.stderr, flush=True)


def servers_lab(n: int) -> str:
    return f"""[stack]
name = "bench10"
[network.bs-net]
[subnet.bs-sub]
network = "bs-net"
cidr = "10.70.0.0/24"
[server.bs]
image = "tiny"
flavor = "m1.nano"
count = {n}
networks = ["bs-net"]
"""


def big_lab(total: int) -> str:
    """`total` resources in fours: a network, its subnet (no DHCP), a group with a rule,
    a volume."""
    parts = ['[stack]\nname = "bench200"\n']
    for i in range(total // 4):
        parts.append(
            f'[network.bp-n{i}]\n[subnet.bp-s{i}]\nnetwork = "bp-n{i}"\n'
            f'cidr = "10.{80 + i // 250}.{i % 250}.0/24"\ndhcp = false\n'
            f'[security_group.bp-g{i}]\nrules = [{{ protocol = "tcp", port = {1000 + i} }}]\n'
            f"[volume.bp-v{i}]\nsize = 1\n"
        )
    return "\n".join(parts)


def _timed(node: Node, *args: str, timeout: float = 1800, cold: bool = True) -> float:
    t = time.perf_counter()
    node.run([str(VENV_BIN / "labcloud"), *args], env=COLD if cold else None, timeout=timeout)
    return time.perf_counter() - t


def run(servers: int = 10, resources: int = 200, skip_servers: bool = False) -> int:
    node = start_node("bench-stacks")
    result: dict[str, object] = {"servers": servers, "resources": resources}
    try:
        node.labcloud("init")
        node.labcloud("image", "create", "tiny", "--builtin")
        if not skip_servers:
            _servers(node, servers, result)
        _log(f"{resources}-resource lab ...")
        big = node.workdir / "bench200.toml"
        big.write_text(big_lab(resources))
        t_big = _timed(node, "stack", "apply", str(big))
        plans = [_timed(node, "stack", "plan", str(big)) for _ in range(5)]
        _timed(node, "status", cold=False)  # starts the fork server
        warm = [_timed(node, "stack", "plan", str(big), cold=False) for _ in range(5)]
        node.labcloud("daemon", "stop", check=False)
        inproc = [
            float(node.run([PYTHON, "-c", PLAN_IN_PROCESS, str(big)], env=COLD).stdout)
            for _ in range(3)
        ]
        _timed(node, "stack", "destroy", "bench200")
        result.update(
            big_apply_s=round(t_big, 2),
            plan_warm_s=round(min(warm), 3),
            plan_warm_median_s=round(sorted(warm)[len(warm) // 2], 3),
            plan_cli_s=round(min(plans), 3),
            plan_cli_median_s=round(sorted(plans)[len(plans) // 2], 3),
            plan_service_s=round(min(inproc), 4),
        )
    finally:
        node.stop()
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    if not skip_servers:
        print(
            f"stack apply of {servers} servers: {result['stack_apply_s']} s; one by one with "
            f"the CLI: {result['one_by_one_s']} s; ratio {result['ratio']}x"
        )
    print(
        f"stack plan on an unchanged {resources}-resource lab: {result['plan_warm_s']} s "
        f"(median {result['plan_warm_median_s']} s) through the fork server, "
        f"{result['plan_cli_s']} s as a cold process (median {result['plan_cli_median_s']} s), "
        f"{result['plan_service_s']} s in the service (apply took {result['big_apply_s']} s)"
    )
    return 0


def _servers(node: Node, servers: int, result: dict[str, object]) -> None:
    """The same servers by `stack apply` and one by one with `server create` (cold CLI)."""
    f = node.workdir / "bench10.toml"
    f.write_text(servers_lab(servers))
    _log(f"stack apply of {servers} servers ...")
    t_stack = _timed(node, "stack", "apply", str(f))
    _timed(node, "stack", "destroy", "bench10")
    _log(f"the same {servers} servers one by one ...")
    t = time.perf_counter()
    node.labcloud("network", "create", "bs-net")
    node.labcloud(
        "subnet", "create", "bs-sub", "--network", "bs-net", "--subnet-range", "10.70.0.0/24"
    )
    for i in range(1, servers + 1):
        create = ["server", "create", f"bs-{i}", "--image", "tiny", "--flavor", "m1.nano"]
        _timed(node, *create, "--network", "bs-net", "--wait", timeout=600)
    t_cli = time.perf_counter() - t
    for i in range(1, servers + 1):
        node.labcloud("server", "delete", f"bs-{i}")
    node.labcloud("network", "delete", "bs-net")
    result.update(
        stack_apply_s=round(t_stack, 2),
        one_by_one_s=round(t_cli, 2),
        ratio=round(t_cli / t_stack, 2),
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.stacks", description=__doc__)
    p.add_argument("--servers", type=int, default=10)
    p.add_argument("--resources", type=int, default=200)
    p.add_argument("--skip-servers", action="store_true", help="only the plan benchmark")
    a = p.parse_args(argv)
    return run(a.servers, a.resources, a.skip_servers)


if __name__ == "__main__":
    sys.exit(main())
