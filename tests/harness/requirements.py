"""What integration tests need from the machine: skip without it, fail under CI=true."""

from __future__ import annotations

import os
import shutil

import pytest

TOOLS = (
    "libvirtd",
    "virtlogd",
    "virsh",
    "qemu-system-x86_64",
    "qemu-img",
    "unshare",
    "nsenter",
    "ip",
)


def require_root_and_tools() -> None:
    """Skip (fail under CI=true) unless we are root and the daemons and tools exist."""
    problems = []
    if os.geteuid() != 0:
        problems.append("not running as root")
    path = os.environ.get("PATH", "") + ":/usr/local/sbin:/usr/sbin:/sbin"
    missing = [tool for tool in TOOLS if shutil.which(tool, path=path) is None]
    if missing:
        problems.append("missing " + ", ".join(missing))
    if not problems:
        return
    reason = "integration tests need root and libvirt/QEMU/util-linux: " + "; ".join(problems)
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)
