"""A node's facts in one call: CPUs, memory, disk, libvirt's socket, and which paths exist.

Standard library only, with no labcloud imports: the local node calls probe() in-process
and a remote node runs this very file with python3 over one SSH exec (one round trip).
"""

from __future__ import annotations

import json
import os
import socket
import sys


def _meminfo() -> dict[str, int]:
    out: dict[str, int] = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                out[key] = int(parts[0])  # KiB
    return out


def probe(request: dict[str, object]) -> dict[str, object]:
    """request: {"disk_path": str, "libvirt_socket": str, "paths": [str]}."""
    mem = _meminfo()
    disk_path = str(request.get("disk_path") or "/")
    while not os.path.exists(disk_path):  # the nearest existing parent
        disk_path = os.path.dirname(disk_path) or "/"
    st = os.statvfs(disk_path)
    sock = str(request.get("libvirt_socket") or "/run/libvirt/libvirt-sock")
    paths = [str(p) for p in request.get("paths", []) or []]  # type: ignore[union-attr]
    return {
        "hostname": socket.gethostname(),
        "vcpus": os.cpu_count() or 1,
        "memory_mb": mem.get("MemTotal", 0) // 1024,
        "memory_free_mb": mem.get("MemAvailable", mem.get("MemFree", 0)) // 1024,
        "disk_gb": st.f_blocks * st.f_frsize // 1024**3,
        "disk_free_gb": st.f_bavail * st.f_frsize // 1024**3,
        "libvirt": _answers(sock),
        "paths": {p: os.path.exists(p) for p in paths},
        "load": os.getloadavg()[0],
    }


def _answers(path: str) -> bool:
    """Whether something accepts connections on libvirt's socket."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


if __name__ == "__main__":
    json.dump(probe(json.loads(sys.argv[1])), sys.stdout)
