"""qemu-nbd exports of volumes on the storage node, one supervised process per volume.

Each export has a directory `STATE_DIR/nbd/<export name>` with its supervisor's and
qemu-nbd's PID files and log. No policy here: the volume service says which volume is
exported where (address, port) and when it stops.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from labcloud.backends.dnsmasq import _terminate

from labcloud.errors import BackendError

SUPERVISOR = "labcloud.backends.nbd_supervisor"
_NAME_RE = re.compile(r"^volume-[0-9a-f-]{36}$")


class NbdExports:
    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir / "nbd"

    def _dir(self, name: str) -> Path:
        if not _NAME_RE.fullmatch(name):
            raise BackendError(f"refusing export name {name!r}: not a labcloud volume")
        return self.root / name

    # -- state ----------------------------------------------------------------------
    def _pid(self, pidfile: Path, *needles: str) -> int | None:
        """A PID from its file, checked against /proc so a recycled PID is not ours."""
        try:
            pid = int(pidfile.read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            return None
        return pid if all(n.encode() in cmdline for n in needles) else None

    def supervisor_pid(self, name: str) -> int | None:
        return self._pid(self._dir(name) / "supervisor.pid", SUPERVISOR, name)

    def server_pid(self, name: str) -> int | None:
        return self._pid(self._dir(name) / "qemu-nbd.pid", "qemu-nbd", f"--export-name={name}")

    def status(self, name: str) -> dict[str, object]:
        sup, pid = self.supervisor_pid(name), self.server_pid(name)
        return {"running": pid is not None, "pid": pid, "supervisor_pid": sup}

    def names(self) -> list[str]:
        """Every export that has a directory here (running or not)."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if _NAME_RE.fullmatch(p.name))

    # -- changes --------------------------------------------------------------------
    def start(self, spec: dict[str, object]) -> None:
        """Export spec's path as spec's name on address:port; idempotent when it runs."""
        name, path = str(spec["name"]), str(spec["path"])
        address, port = str(spec["address"]), int(spec["port"])  # type: ignore[call-overload]
        workdir = self._dir(name)
        argv = [sys.executable, "-m", SUPERVISOR, name, path, str(spec["format"]), address]
        argv += [str(port), str(workdir)]
        if self.supervisor_pid(name) is not None and self.server_pid(name) is not None:
            return  # no probe: a qemu-nbd serving its one client accepts no other
        self.stop(name)
        workdir.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        if proc.returncode != 0:
            err = " ".join(proc.stderr.split())[-300:]
            raise BackendError(f"cannot start the NBD export of {name}: {err}")
        for _ in range(200):
            if self.server_pid(name) is not None and _listening(address, port):
                return
            time.sleep(0.05)
        tail = _tail(workdir / "qemu-nbd.log")
        self.stop(name)
        raise BackendError(f"qemu-nbd for {name} did not listen on {address}:{port}: {tail}")

    def stop(self, name: str) -> None:
        """Stop the supervisor (which stops its qemu-nbd), then any qemu-nbd left; forget it.
        Idempotent."""
        workdir = self._dir(name)
        _terminate(self.supervisor_pid(name), lambda: self.supervisor_pid(name))
        _terminate(self.server_pid(name), lambda: self.server_pid(name))
        with contextlib.suppress(OSError):
            shutil.rmtree(workdir)


def _listening(address: str, port: int) -> bool:
    """Whether a socket listens on address:port (IPv4), read from /proc/net/tcp: no probe
    connection, which qemu-nbd would count as a client."""
    try:
        packed = socket.inet_aton(address)
    except OSError:
        return True  # not IPv4: the running qemu-nbd is all there is to check
    want = f"{socket.htonl(int.from_bytes(packed, 'big')):08X}:{port:04X}"
    try:
        rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return False
    return any(r.split()[1] == want and r.split()[3] == "0A" for r in rows)


def _tail(path: Path) -> str:
    try:
        return " ".join(path.read_text().split())[-300:] or "no log"
    except OSError:
        return "no log"
