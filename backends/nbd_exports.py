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
from pathlib import Path

from labcloud.backends.supervisor import Supervised, daemon_pid, terminate, wait_until

from labcloud.errors import BackendError

_NAME_RE = re.compile(r"^volume-[0-9a-f-]{36}$")


class NbdExports:
    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir / "nbd"

    def _dir(self, name: str) -> Path:
        if not _NAME_RE.fullmatch(name):
            raise BackendError(f"refusing export name {name!r}: not a labcloud volume")
        return self.root / name

    def _supervised(self, name: str) -> Supervised:
        workdir = self._dir(name)
        return Supervised(name, workdir / "supervisor.pid", workdir / "qemu-nbd.log")

    # -- state ----------------------------------------------------------------------
    def supervisor_pid(self, name: str) -> int | None:
        return self._supervised(name).pid()

    def server_pid(self, name: str) -> int | None:
        """qemu-nbd's PID from its own pidfile, checked against /proc (not a recycled PID)."""
        wanted = (b"qemu-nbd", f"--export-name={name}".encode())
        return daemon_pid(
            self._dir(name) / "qemu-nbd.pid",
            lambda words: all(w in b"\0".join(words) for w in wanted),
        )

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
        if self.supervisor_pid(name) is not None and self.server_pid(name) is not None:
            return  # no probe: a qemu-nbd serving its one client accepts no other
        self.stop(name)
        workdir.mkdir(parents=True, exist_ok=True)
        argv = qemu_nbd_argv(name, path, str(spec["format"]), address, port, workdir)
        self._supervised(name).start(
            f"the NBD export of {name}",
            "qemu-nbd",
            argv,
            watch=Path(path),  # a deleted volume
        )
        if wait_until(
            lambda: self.server_pid(name) is not None and _listening(address, port), 10.0
        ):
            return
        tail = _tail(workdir / "qemu-nbd.log")
        self.stop(name)
        raise BackendError(f"qemu-nbd for {name} did not listen on {address}:{port}: {tail}")

    def stop(self, name: str) -> None:
        """Stop the supervisor (which stops its qemu-nbd), then any qemu-nbd left; forget it.
        Idempotent."""
        workdir = self._dir(name)
        self._supervised(name).stop()
        terminate(self.server_pid(name), lambda: self.server_pid(name))
        with contextlib.suppress(OSError):
            shutil.rmtree(workdir)


def qemu_nbd_argv(
    name: str, path: str, file_format: str, address: str, port: int, workdir: Path
) -> list[str]:
    """One export `name` of the file or device `path`, on address:port only, persistent (it
    outlives a client's disconnect), writing its PID to workdir/qemu-nbd.pid."""
    return [
        "qemu-nbd",
        "--persistent",
        f"--bind={address}",
        f"--port={port}",
        f"--export-name={name}",
        f"--format={file_format}",
        "--discard=unmap",
        f"--pid-file={workdir / 'qemu-nbd.pid'}",
        "--",
        path,
    ]


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
