"""Run inside a harness node holding N servers: the TUI's figures, measured in-process on a
headless app (Textual's pilot) except the first paint, which is a real `labcloud tui` on a
pseudo-terminal. Prints one JSON object.

- first_paint_s: `labcloud tui servers` started on an 120x40 pty until a server name shows;
- key_to_table_s: from pressing `2` (servers, from the flavors view) until the table holds
  every server, median of --rounds;
- external_appear_s: a server row committed by another process (`labcloud server create`)
  until it is in the visible table, no key pressed; median of --rounds;
- rss_start_mib, rss_after_mib, rss_curve_mib: the app's resident memory at start, after
  --minutes of live updates (another process starts/stops a server and makes/deletes a
  keypair all along), and every minute in between.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pty
import select
import sqlite3
import struct
import subprocess
import sys
import termios
import threading
import time
from fcntl import ioctl
from functools import partial
from pathlib import Path

LABCLOUD = str(Path(sys.executable).with_name("labcloud"))


def log(msg: str) -> None:
    print(f"[tui_probe] {msg}", file=sys.stderr, flush=True)


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def first_paint(name: str) -> float:
    parent, child = pty.openpty()
    ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    # A cold process (no warm fork server): the slowest start a user can see.
    env = os.environ | {"TERM": "xterm-256color", "LABCLOUD_NO_DAEMON": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [LABCLOUD, "tui", "servers"], stdin=child, stdout=child, stderr=child, env=env,
        start_new_session=True,
    )  # fmt: skip
    os.close(child)
    seen = b""
    try:
        while name.encode() not in seen:
            if time.perf_counter() - t0 > 120:
                raise RuntimeError(f"no first paint in 120 s: {seen[-300:]!r}")
            if select.select([parent], [], [], 1)[0]:
                seen += os.read(parent, 1 << 16)
        took = time.perf_counter() - t0
        os.write(parent, b"q")
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(parent)
    return took


def committed_at(db: Path, name: str, box: dict[str, float], stop: threading.Event) -> None:
    """When `name`'s row became visible to a reader: a tight loop on a fresh connection."""
    con = sqlite3.connect(db)
    while not stop.is_set():
        if con.execute("SELECT 1 FROM servers WHERE name = ?", (name,)).fetchall():
            box["t"] = time.perf_counter()
            return
        time.sleep(0.002)


async def in_app(count: int, rounds: int, minutes: float) -> dict[str, object]:
    from labcloud.screens.app import LabApp
    from labcloud.screens.resource import ResourceView

    from labcloud.lab import Lab

    ResourceView.interval = 3600.0  # only the change watch may refresh
    lab = Lab.open()
    app = LabApp(lab, start="flavors")
    out: dict[str, object] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        while app.main.current != "flavors" or not app.main.view.loaded:
            await pilot.pause(0.01)
        out["rss_start_mib"] = rss_mib()

        log("key press -> table")
        key_times = []
        for _ in range(rounds):
            await pilot.press("4")
            await pilot.pause(0.05)
            view = app.main.views["servers"]
            view.table.clear()  # so a full table means this press's load landed
            view.items = []
            t0 = time.perf_counter()
            await pilot.press("2")
            while view.table.row_count < count:
                await pilot.pause(0.002)
            key_times.append(time.perf_counter() - t0)
        out["key_to_table_s"] = key_times

        log("external create -> row")
        appear = []
        for i in range(rounds):
            name = f"ext-{i}"
            box: dict[str, float] = {}
            stop = threading.Event()
            watcher = threading.Thread(target=committed_at, args=(lab.store.path, name, box, stop))
            watcher.start()
            # A cold process: the figure is measured from its commit, so its start-up
            # does not count (and no fork server of another run can answer it).
            other = subprocess.Popen(
                [LABCLOUD, "server", "create", name, "--image", "tiny", "--flavor", "m1.nano"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env=os.environ | {"LABCLOUD_NO_DAEMON": "1"},
            )  # fmt: skip
            view = app.main.view
            while not any(item.cells[0] == name for item in view.items) or "t" not in box:
                await pilot.pause(0.002)
            appear.append(time.perf_counter() - box["t"])
            stop.set()
            watcher.join()
            await asyncio.to_thread(other.wait)
            await asyncio.to_thread(lab.compute.delete, name)
        out["external_appear_s"] = appear

        log(f"{minutes} min of live updates")
        churn = subprocess.Popen(
            [sys.executable, __file__, "--churn", str(minutes * 60)], stdout=subprocess.PIPE
        )
        start = time.monotonic()
        deadline = start + minutes * 60
        curve = [(0.0, rss_mib())]  # (minutes, MiB): a plateau, or a leak's slope
        while time.monotonic() < deadline:
            await pilot.pause(1.0)
            elapsed = (time.monotonic() - start) / 60
            if elapsed >= len(curve):
                curve.append((round(elapsed, 2), rss_mib()))
                log(f"rss after {elapsed:.1f} min: {curve[-1][1]:.0f} MiB")
        churned, _ = await asyncio.to_thread(churn.communicate)
        out["churn"] = json.loads(churned or "{}")
        out["rss_after_mib"] = rss_mib()
        out["rss_curve_mib"] = [*curve, (round((time.monotonic() - start) / 60, 2), rss_mib())]
        out["minutes"] = minutes
        out["rows_at_end"] = app.main.view.table.row_count
    return out


def churn(seconds: float) -> dict[str, object]:
    """Live updates for the app to follow: a server started and stopped, keypairs made.

    A refused step (say the app's own sync raced a start) is counted and the churn goes
    on: the memory figure means something only if the changes kept coming."""
    from labcloud.errors import LabError
    from labcloud.lab import Lab

    lab = Lab.open()
    target = lab.compute.list(sync=False)[0].name
    deadline = time.monotonic() + seconds
    cycles, errors = 0, []
    while time.monotonic() < deadline:
        cycles += 1
        name = f"churn-{cycles}"
        for step in (
            partial(lab.keypairs.create, name),
            partial(lab.compute.start, target),
            partial(lab.compute.stop, target, timeout=0),
            partial(lab.keypairs.delete, name),
        ):
            try:
                step()
            except Exception as exc:  # counted and shown: the churn goes on
                line = (
                    exc.one_line() if isinstance(exc, LabError) else f"{type(exc).__name__}: {exc}"
                )
                errors.append(line)
                log(f"churn: {line}")
    return {"cycles": cycles, "errors": len(errors), "first_errors": errors[:5]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--churn", type=float, default=None)
    a = p.parse_args()
    if a.churn is not None:
        json.dump(churn(a.churn), sys.stdout)
        return 0
    from labcloud.lab import Lab

    servers = Lab.open().compute.list(sync=False)
    name = servers[0].name  # the top row: on screen however many there are
    log("first paint")
    paints = [first_paint(name) for _ in range(a.rounds)]
    result = asyncio.run(in_app(len(servers), a.rounds, a.minutes))
    result["first_paint_s"] = paints
    result["servers"] = len(servers)
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
