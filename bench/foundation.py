"""The foundation benchmark: list and create on a libvirtd holding N defined instances.

Everything runs inside one isolated harness node (own namespaces, own libvirtd):
1. `labcloud init` and the built-in tiny image; one throw-away create so the
   accelerator probe (cached per boot) is paid before anything is measured;
2. N servers made by labcloud's compute service and powered off (bench/populate.py);
3. list: `labcloud server list -f json` vs `virsh list --all` vs `kcli list vm`;
4. create: `labcloud server create --wait` vs bench/raw_create.py, which makes the
   same overlay and domain with bare qemu-img and libvirt-python calls.
Each command is timed as a fresh process inside the node (bench/timer.py), the
commands of a comparison alternating, and the median reported. This prints ratios
against targets; it asserts nothing about timing.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.harness.node import URI, VENV_BIN, Node, NodeCommandError, NodeError, start_node

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results" / "foundation.json"
KCLI_VENV = BENCH_DIR / ".kcli-venv"
KCLI = KCLI_VENV / "bin" / "kcli"
PYTHON = str(VENV_BIN / "python")
LABCLOUD = str(VENV_BIN / "labcloud")
TOOLS = ("libvirtd", "virtlogd", "virsh", "qemu-img", "qemu-system-x86_64", "unshare", "nsenter")

# The same command without the warm fork server (labcloud/cli/forkserver.py): every
# command then pays the ~0.4 s import of SQLModel, SQLAlchemy and pydantic itself.
COLD = {"LABCLOUD_NO_DAEMON": "1"}
COLD_NOTE = "LABCLOUD_NO_DAEMON=1: a cold process that imports everything itself"

# The lab holds hundreds of servers in one project: lift the per-project quotas that
# limit them (OpenStack's defaults, 10 instances), as an admin would for such a lab.
UNLIMITED = "[quotas]\ninstances = -1\ncores = -1\nram = -1\n"

# kcli's local client is libvirt at qemu:///system: inside the node, the node's libvirtd.
KCLI_CONFIG = "default:\n  client: local\nlocal:\n  type: kvm\n  host: 127.0.0.1\n"

# What the raw script needs, read once through labcloud's API (not timed).
IMAGE_INFO = """
import json
from labcloud.lab import Lab
lab = Lab.open()
img = lab.images.get("tiny")
kernel, ramdisk = lab.images.get(img.kernel_id), lab.images.get(img.ramdisk_id)
print(json.dumps({
    "backing": lab.images.path_of(img),
    "kernel": lab.images.path_of(kernel),
    "initrd": lab.images.path_of(ramdisk),
    "cmdline": json.loads(img.properties)["os_command_line"],
    "virt_type": lab.ctx.agent.virt_type(lab.config.site.virt_type),
}))
"""


@dataclass
class Row:
    """One measured command; ratio is labcloud's median over this one's."""

    group: str
    command: str
    median_s: float | None = None
    min_s: float | None = None
    runs: int = 0
    items: int | None = None  # how many instances the command reported
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""
    failures: list[str] = field(default_factory=list)


def _log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def _missing_requirements() -> list[str]:
    problems = [] if os.geteuid() == 0 else ["must run as root (the harness makes namespaces)"]
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    problems += [f"{t} is not installed" for t in TOOLS if shutil.which(t, path=path) is None]
    return problems


def ensure_kcli() -> str | None:
    """kcli in its own venv (it pins its own libvirt-python). Returns why not, or None."""
    if KCLI.exists():
        return None
    _log(f"installing kcli into {KCLI_VENV}")
    try:
        subprocess.run([sys.executable, "-m", "venv", str(KCLI_VENV)], check=True, timeout=120)
        proc = subprocess.run(
            [str(KCLI_VENV / "bin" / "pip"), "install", "-q", "kcli"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"cannot make {KCLI_VENV}: {exc}"
    if proc.returncode != 0 or not KCLI.exists():
        return "pip install kcli failed: " + " ".join(proc.stderr.split())[-300:]
    return None


def _timed(node: Node, plan: dict[str, Any], timeout: float) -> dict[str, Any]:
    proc = node.run([PYTHON, str(BENCH_DIR / "timer.py")], input=json.dumps(plan), timeout=timeout)
    return dict(json.loads(proc.stdout))


def _fill(row: Row, res: dict[str, Any]) -> None:
    times = res["times"]
    row.runs = len(times)
    row.failures = res["failed"]
    if times:
        row.median_s = statistics.median(times)
        row.min_s = min(times)


def _count_lines(text: str, needle: str) -> int:
    return sum(1 for line in text.splitlines() if needle in line)


def populate(node: Node, instances: int, workers: int) -> dict[str, Any]:
    # The admin project's default quota (10 instances) would stop the bulk at 10.
    node.labcloud("quota", "set", "admin", *("--instances", "-1", "--cores", "-1", "--ram", "-1"))
    proc = node.run(
        [
            PYTHON,
            str(BENCH_DIR / "populate.py"),
            *("--count", str(instances), "--workers", str(workers)),
        ],
        check=False,
        timeout=3600,
    )
    try:
        out = dict(json.loads(proc.stdout))
    except ValueError:
        raise NodeCommandError(f"populate failed: {proc.stderr[-2000:]}") from None
    if out["errors"]:
        raise NodeCommandError("populate failed:\n" + "\n".join(out["errors"]))
    return out


def bench_list(node: Node, rounds: int, kcli_problem: str | None) -> list[Row]:
    commands: list[dict[str, Any]] = [
        {"label": "labcloud", "argv": [LABCLOUD, "server", "list", "-f", "json"]},
        {"label": "labcloud_cold", "argv": [LABCLOUD, "server", "list", "-f", "json"], "env": COLD},
        {"label": "virsh", "argv": ["virsh", "-c", URI, "list", "--all"]},
        # Start-up floors: the CLI alone, and the imports every command on the lab pays
        # (config, store, services) before it does any work.
        {"label": "cli_floor", "argv": [LABCLOUD, "--version"], "env": COLD},
        {"label": "lab_floor", "argv": [PYTHON, "-c", "import labcloud.lab"]},
    ]
    if kcli_problem is None:
        home = node.workdir / "kcli-home"  # never the real ~/.kcli
        (home / ".kcli").mkdir(parents=True, exist_ok=True)
        (home / ".kcli" / "config.yml").write_text(KCLI_CONFIG)
        commands.append(
            {"label": "kcli", "argv": [str(KCLI), "list", "vm"], "env": {"HOME": str(home)}}
        )
    res = _timed(node, {"rounds": rounds, "warmup": 1, "commands": commands}, timeout=1800)

    lab = Row("list", "labcloud server list -f json")
    _fill(lab, res["labcloud"])
    try:
        lab.items = len(json.loads(res["labcloud"]["last_stdout"]))
    except ValueError:
        lab.items = None
    cold = Row("list", "labcloud server list (cold)", note=COLD_NOTE)
    _fill(cold, res["labcloud_cold"])
    virsh = Row("list", "virsh list --all", note="no target: libvirt's own C client")
    _fill(virsh, res["virsh"])
    virsh.items = _count_lines(res["virsh"]["last_stdout"], "labcloud-")
    cli_floor = Row("floor", "labcloud --version", note="start-up floor of the CLI alone")
    _fill(cli_floor, res["cli_floor"])
    lab_floor = Row(
        "floor",
        "python -c 'import labcloud.lab'",
        note="start-up floor of every command that opens the lab (no work done)",
    )
    _fill(lab_floor, res["lab_floor"])
    kcli = Row("list", "kcli list vm", target="labcloud < kcli")
    if kcli_problem is None:
        _fill(kcli, res["kcli"])
        kcli.items = _count_lines(res["kcli"]["last_stdout"], "labcloud-")
    else:
        kcli.note = f"not run: {kcli_problem}"
    for row in (virsh, kcli):
        if lab.median_s and row.median_s:
            row.ratio = lab.median_s / row.median_s
    if kcli.ratio is not None:
        kcli.met = kcli.ratio < 1.0
    return [lab, virsh, kcli, cold, cli_floor, lab_floor]


def bench_create(node: Node, rounds: int) -> list[Row]:
    info = json.loads(node.run([PYTHON, "-c", IMAGE_INFO]).stdout)
    raw_dir = str(node.state_dir / "bench-raw")
    raw = [PYTHON, str(BENCH_DIR / "raw_create.py")]
    commands = [
        {
            "label": "labcloud",
            "argv": [
                *(LABCLOUD, "server", "create", "bench-lc-{i}"),
                *("--image", "tiny", "--flavor", "m1.nano", "--wait"),
            ],
            # Deleted straight away: the instance count stays N and no guest keeps
            # booting (and eating CPU) while the next command is timed.
            "after": [[LABCLOUD, "server", "delete", "bench-lc-{i}"]],
        },
        {
            "label": "labcloud_cold",
            "argv": [
                *(LABCLOUD, "server", "create", "bench-cold-{i}"),
                *("--image", "tiny", "--flavor", "m1.nano", "--wait"),
            ],
            "env": COLD,
            "after": [[LABCLOUD, "server", "delete", "bench-cold-{i}"]],
        },
        {
            "label": "raw",
            "argv": [
                *(*raw, "create", "bench-raw-{i}", "--dir", raw_dir),
                *("--backing", info["backing"], "--kernel", info["kernel"]),
                *("--initrd", info["initrd"], "--virt-type", info["virt_type"]),
                *("--cmdline", f"{info['cmdline']} labcloud.hostname=bench-raw"),
            ],
            "after": [[*raw, "delete", "bench-raw-{i}", "--dir", raw_dir]],
        },
    ]
    res = _timed(node, {"rounds": rounds, "warmup": 1, "commands": commands}, timeout=1800)
    lab = Row("create", "labcloud server create --wait")
    _fill(lab, res["labcloud"])
    base = Row("create", "raw libvirt-python script", target="labcloud <= 1.2x raw")
    _fill(base, res["raw"])
    cold = Row("create", "labcloud server create --wait (cold)", note=COLD_NOTE)
    _fill(cold, res["labcloud_cold"])
    if lab.median_s and base.median_s:
        base.ratio = lab.median_s / base.median_s
        base.met = base.ratio <= 1.2
    return [lab, base, cold]


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(rows: list[Row]) -> None:
    head = ("benchmark", "command", "median s", "min s", "n", "items", "labcloud/this")
    head += ("target", "met")
    lines = [head]
    for r in rows:
        met = "-" if r.met is None else ("yes" if r.met else "NO")
        lines.append(
            (
                r.group,
                r.command,
                _fmt(r.median_s, ".3f"),
                _fmt(r.min_s, ".3f"),
                str(r.runs),
                "-" if r.items is None else str(r.items),
                _fmt(r.ratio, ".2f") + ("x" if r.ratio is not None else ""),
                r.target or "-",
                met,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    for n, line in enumerate(lines):
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print("labcloud/this: labcloud's median over this command's; below 1 means labcloud is faster")
    for r in rows:
        if r.note:
            print(f"  {r.command}: {r.note}")
        for failure in r.failures[:3]:
            print(f"  {r.command} FAILED: {failure}")


def run(instances: int = 500, rounds: int = 5, workers: int = 3) -> int:
    if problems := _missing_requirements():
        print("bench foundation: " + "; ".join(problems), file=sys.stderr)
        return 2
    started = time.perf_counter()
    kcli_problem = ensure_kcli()
    if kcli_problem:
        _log(f"kcli skipped: {kcli_problem}")
    try:
        node = start_node("bench", lab_extra=UNLIMITED)
    except NodeError as exc:
        print(f"bench foundation: {exc}", file=sys.stderr)
        return 1
    result: dict[str, Any] = {"instances": instances, "rounds": rounds, "workers": workers}
    try:
        node.labcloud("init")
        node.labcloud("image", "create", "tiny", "--builtin")
        # The first create on a boot probes KVM (up to ~6 s); pay it outside the figures.
        node.labcloud("server", "create", "probe", "--image", "tiny", "--flavor", "m1.nano")
        node.labcloud("server", "delete", "probe")

        _log(f"populating {instances} instances with {workers} workers")
        pop = populate(node, instances, workers)
        defined = len(node.virsh("list", "--all", "--name").stdout.split())
        _log(f"populated {pop['count']} in {pop['wall_s']:.1f} s; libvirt has {defined}")
        result["populate"] = {**pop, "libvirt_domains": defined}

        _log(f"list: {rounds} rounds")
        listed = bench_list(node, rounds, kcli_problem)
        _log(f"create: {rounds} rounds")
        created = bench_create(node, rounds)
        # Floors last: they explain the figures above them.
        rows = listed[:3] + created[:2] + listed[3:4] + created[2:] + listed[4:]
    except NodeCommandError as exc:
        print(f"bench foundation: {exc}", file=sys.stderr)
        return 1
    finally:
        node.stop()
    result["total_s"] = time.perf_counter() - started
    result["rows"] = [asdict(r) for r in rows]
    result["kcli_problem"] = kcli_problem

    pop = result["populate"]
    print(
        f"\nfoundation: {instances} defined instances (libvirt holds "
        f"{pop['libvirt_domains']}), median of {rounds} fresh-process runs each\n"
        f"population: {pop['count']} servers in {pop['wall_s']:.1f} s with {workers} "
        f"workers (create {_fmt(pop['create_median_s'], '.2f')} s, stop "
        f"{_fmt(pop['stop_median_s'], '.2f')} s median each); whole run "
        f"{result['total_s']:.0f} s\n"
    )
    print_table(rows)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nresults: {RESULTS}")
    return 0
