"""Does KVM actually run a Linux guest here?

A /dev/kvm that exists but hangs guests is common in nested labs, and a trivial
firmware test passes on such hosts while a real kernel never prints a line. So the
probe boots a kernel with no root device and waits for its panic message: that
proves a long-mode guest ran. A working KVM gets there in about a second.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

PANIC_MARK = b"Kernel panic"


def find_probe_kernel() -> Path | None:
    kernels = sorted(Path("/boot").glob("vmlinuz-*"))
    return kernels[-1] if kernels else None


def kvm_works(kernel: Path | None = None, timeout: float = 6.0) -> bool:
    """True only when a KVM guest boots a kernel far enough to print its panic."""
    qemu = shutil.which("qemu-system-x86_64")
    kernel = kernel or find_probe_kernel()
    if qemu is None or kernel is None or not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    with tempfile.TemporaryDirectory(prefix="lc-kvm-probe-") as tmp:
        log = Path(tmp) / "serial.log"
        argv = [
            qemu,
            "-accel",
            "kvm",
            "-m",
            "256",
            "-nodefaults",
            "-display",
            "none",
            "-no-reboot",
            "-serial",
            f"file:{log}",
            "-kernel",
            str(kernel),
            "-append",
            "console=ttyS0 quiet panic=-1 root=/dev/lc-probe-none",
        ]
        try:
            subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return False  # the hang this probe exists to catch
        return log.exists() and PANIC_MARK in log.read_bytes()
