"""The host tripwire: proof that a run left the host's own network namespace as it was.

A look at the namespace is taken before the first test and after each test file, and the
last one is compared with the first: links, addresses, routes, named namespaces and the
mounts that pin them under /run/netns, nftables tables, chains and rules, and the
iptables-nft chains (what libvirt, Docker or labcloud could touch). Any difference fails
the run and names what changed, and the test file after which it first appeared and
stayed. `python -m bench` takes the same looks around its benchmarks.

As a pytest plugin it is loaded by tests/conftest.py, or with `-p tests.harness.tripwire`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

Look = dict[str, frozenset[str]]

SBIN = "/usr/sbin:/sbin"


def _run(argv: list[str]) -> str:
    path = os.environ.get("PATH", "") + ":" + SBIN
    exe = shutil.which(argv[0], path=path)
    if exe is None:
        raise FileNotFoundError(argv[0])
    proc = subprocess.run(
        [exe, *argv[1:]], capture_output=True, text=True, timeout=60, check=False
    )
    if proc.returncode != 0:
        raise OSError(" ".join((proc.stderr or proc.stdout).split())[:200])
    return proc.stdout


def _links() -> Iterator[str]:
    for link in json.loads(_run(["ip", "-j", "-d", "link", "show"]) or "[]"):
        kind = link.get("linkinfo", {}).get("info_kind", "")
        up = "UP" if "UP" in link.get("flags", []) else "down"
        master = link.get("master", "")
        yield (
            f"{link['ifname']} kind={kind or '-'} mac={link.get('address', '-')} "
            f"mtu={link.get('mtu')} {up} master={master or '-'}"
        )


def _addresses() -> Iterator[str]:
    for link in json.loads(_run(["ip", "-j", "addr", "show"]) or "[]"):
        for addr in link.get("addr_info", []):
            yield f"{link['ifname']} {addr['family']} {addr['local']}/{addr['prefixlen']}"


def _routes() -> Iterator[str]:
    for family in ("-4", "-6"):
        out = _run(["ip", "-j", family, "route", "show", "table", "all"])
        for r in json.loads(out or "[]"):
            yield " ".join(
                f"{key}={r[key]}"
                for key in ("type", "dst", "gateway", "dev", "table", "protocol", "metric")
                if key in r
            )


def _named_netns() -> Iterator[str]:
    root = Path("/run/netns")
    if root.is_dir():
        yield from sorted(p.name for p in root.iterdir())


def _netns_mounts() -> Iterator[str]:
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mount_point = line.split()[4]
        if mount_point == "/run/netns" or mount_point.startswith("/run/netns/"):
            yield mount_point


def _without_counters(value: object) -> object:
    """A rule's expression, minus what traffic changes (counters, quota use)."""
    if isinstance(value, dict):
        return {
            k: None if k in ("counter", "packets", "bytes", "used") else _without_counters(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_without_counters(v) for v in value]
    return value


def _nftables() -> Iterator[str]:
    for item in json.loads(_run(["nft", "-j", "list", "ruleset"]) or "{}").get("nftables", []):
        if "table" in item:
            yield f"table {item['table']['family']} {item['table']['name']}"
        elif "chain" in item:
            c = item["chain"]
            hook = f" hook={c['hook']} prio={c.get('prio')}" if "hook" in c else ""
            yield f"chain {c['family']} {c['table']} {c['name']}{hook}"
        elif "rule" in item:
            r = item["rule"]
            expr = json.dumps(_without_counters(r.get("expr", [])), sort_keys=True)
            yield f"rule {r['family']} {r['table']} {r['chain']} {expr}"
        elif "set" in item:
            s = item["set"]
            yield f"set {s['family']} {s['table']} {s['name']}"


def _iptables() -> Iterator[str]:
    for tool in ("iptables-nft-save", "ip6tables-nft-save"):
        for line in _run([tool]).splitlines():
            if line.startswith("#"):
                continue
            # Chain policy lines carry packet counters: "[0:0]".
            yield f"{tool.split('-')[0]} {line.split(' [')[0]}"


PARTS = {
    "link": _links,
    "address": _addresses,
    "route": _routes,
    "named netns": _named_netns,
    "mount under /run/netns": _netns_mounts,
    "nftables": _nftables,
    "iptables-nft": _iptables,
}


def look() -> Look:
    """The host namespace as the tripwire sees it. A part that cannot be read (no nft,
    no root) is one stable line, so it shows no change unless it becomes readable."""
    seen: Look = {}
    for part, read in PARTS.items():
        try:
            seen[part] = frozenset(read())
        except (OSError, ValueError, KeyError, subprocess.TimeoutExpired) as exc:
            seen[part] = frozenset({f"(unreadable: {type(exc).__name__})"})
    return seen


@dataclass
class Change:
    part: str
    item: str
    added: bool
    since: str | None  # the test file (or step) after which it appeared and stayed

    def line(self) -> str:
        what = "appeared" if self.added else "vanished"
        where = f" (first after {self.since})" if self.since else ""
        return f"{self.part} {what}: {self.item}{where}"


@dataclass
class Tripwire:
    """Looks before, between steps, and after; what differs at the end is a Change."""

    before: Look = field(default_factory=look)
    checkpoints: list[tuple[str, Look]] = field(default_factory=list)

    def checkpoint(self, step: str) -> None:
        self.checkpoints.append((step, look()))

    def changes(self, after: Look | None = None) -> list[Change]:
        after = look() if after is None else after
        found = []
        for part in PARTS:
            old, new = self.before.get(part, frozenset()), after.get(part, frozenset())
            for item in sorted(new - old):
                found.append(Change(part, item, True, self._since(part, item, True)))
            for item in sorted(old - new):
                found.append(Change(part, item, False, self._since(part, item, False)))
        return found

    def _since(self, part: str, item: str, added: bool) -> str | None:
        """The step after which the change was there at every later look."""
        since = None
        for step, seen in reversed(self.checkpoints):
            if (item in seen.get(part, frozenset())) != added:
                break
            since = step
        return since


def report(changes: list[Change]) -> str:
    lines = [c.line() for c in changes]
    return "the host's own network namespace changed:\n  " + "\n  ".join(lines)


# -- the pytest plugin -----------------------------------------------------------------

_KEY = pytest.StashKey[Tripwire]()
_FOUND = pytest.StashKey[list[Change]]()


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_KEY] = Tripwire()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    # After a test file's last test (its module fixtures are torn down by then).
    if nextitem is not None and nextitem.path == item.path:
        return
    wire = item.config.stash.get(_KEY, None)
    if wire is not None:
        rel = os.path.relpath(item.path, item.config.rootpath)
        wire.checkpoint(rel)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    wire = session.config.stash.get(_KEY, None)
    if wire is None:
        return
    changes = wire.changes()
    session.config.stash[_FOUND] = changes
    if changes:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    changes = terminalreporter.config.stash.get(_FOUND, [])
    if changes:
        terminalreporter.section("host tripwire", red=True, bold=True)
        terminalreporter.line("FAILED: " + report(changes), red=True)
