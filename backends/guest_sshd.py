"""An SSH server for the tiny guest: the host's dropbear (Debian's dropbear-bin) with the
shared libraries it links, so `labcloud server ssh` reaches a real sshd in the guest.

busybox has no SSH server, and a static dropbear is not packaged; the host's dynamic one
runs in the guest because the guest runs the host's kernel and gets the host's loader and
libraries at the same paths. The guest's /init starts it when it is there
(backends/guest/init); host keys are made in the guest on first use (`dropbear -R`), so
no two servers share one.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Protocol

from labcloud.errors import BackendError

DROPBEAR = Path("/usr/sbin/dropbear")
GUEST_PATH = "usr/sbin/dropbear"

# ldd's lines: "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" and the loader,
# "/lib64/ld-linux-x86-64.so.2 (0x...)"; linux-vdso has no file.
_LDD_PATH = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)")


class _Tree(Protocol):
    def file(self, path: str, data: bytes | str, perm: int = 0o644) -> None: ...
    def dir(self, path: str, perm: int = 0o755) -> None: ...


def shared_libraries(binary: Path) -> list[Path]:
    """The files the dynamic loader maps for `binary`, the loader included (from ldd)."""
    try:
        proc = subprocess.run(
            ["ldd", str(binary)], capture_output=True, text=True, check=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise BackendError(f"cannot list the libraries of {binary}: {exc}") from None
    if "not found" in proc.stdout:
        raise BackendError(
            f"{binary} misses a library: {' '.join(proc.stdout.split())}",
            "reinstall the Debian package dropbear-bin",
        )
    return sorted({Path(m.group(1)) for m in map(_LDD_PATH.search, proc.stdout.splitlines()) if m})


def add_sshd(fs: _Tree, dropbear: Path = DROPBEAR) -> bool:
    """Put dropbear and its libraries into the guest's tree. False when the host has none."""
    if not dropbear.is_file():
        return False
    for lib in shared_libraries(dropbear):
        fs.file(str(lib).lstrip("/"), lib.read_bytes(), 0o755)
    fs.file(GUEST_PATH, dropbear.read_bytes(), 0o755)
    fs.dir("etc/dropbear", 0o700)  # where `dropbear -R` keeps the keys it makes
    return True
