"""Which device name a volume gets in a server: pure logic, unit-tested on its own."""

from __future__ import annotations

import re
from collections.abc import Iterable

from labcloud.errors import Conflict, UsageError

ROOT_DEVICE = "vda"
# virtio-blk names a guest sees in order; vda is the root disk (overlay or boot volume).
_DEVICE_RE = re.compile(r"^vd[b-z]$")
CANDIDATES = tuple(f"vd{c}" for c in "bcdefghijklmnopqrstuvwxyz")
SERIAL_LENGTH = 20  # virtio-blk serials are at most 20 bytes


def serial_of(volume_id: str) -> str:
    """The disk serial a guest sees (/dev/disk/by-id/virtio-<serial>): the id's prefix."""
    return volume_id[:SERIAL_LENGTH]


def choose_device(used: Iterable[str], requested: str | None = None) -> str:
    """The requested device (`vdc` or `/dev/vdc`) if free, else the first free one."""
    taken = set(used) | {ROOT_DEVICE}
    if requested is not None:
        name = requested.removeprefix("/dev/")
        if name == ROOT_DEVICE:
            raise UsageError(f"--device {requested}: vda is the server's root disk")
        if not _DEVICE_RE.fullmatch(name):
            raise UsageError(f"invalid --device {requested!r}", "use vdb to vdz")
        if name in taken:
            raise Conflict(f"device {name} is already in use on this server", "pick another")
        return name
    for name in CANDIDATES:
        if name not in taken:
            return name
    raise Conflict("the server has no free device name (vdb to vdz are all in use)")
