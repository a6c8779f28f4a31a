"""What volumes are, without the service: sizes, statuses and the image metadata a
volume keeps. Every module of the package may import this one."""

from __future__ import annotations

from typing import Any

from labcloud.db.models import Image
from labcloud.errors import UsageError

GIB = 1024**3
MAX_SIZE_GB = 65536
VOLUME_STATUSES = (
    "creating",
    "available",
    "attaching",
    "in-use",
    "detaching",
    "extending",
    "deleting",
    "error",
)
SNAPSHOT_STATUSES = ("creating", "available", "deleting", "error")


def gib_ceil(size_bytes: int) -> int:
    return max(1, -(-size_bytes // GIB))


def check_size(size: int, what: str = "size") -> int:
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise UsageError(f"invalid {what} {size!r}", "give a whole number of GB, 1 or more")
    if size > MAX_SIZE_GB:
        raise UsageError(f"{what} {size} GB is too large", f"the limit is {MAX_SIZE_GB} GB")
    return size


def image_metadata(image: Image) -> dict[str, Any]:
    """What Cinder keeps of the image a volume was made from (volume_image_metadata)."""
    return {
        "image_id": image.id,
        "image_name": image.name,
        "disk_format": image.disk_format,
        "container_format": image.container_format,
        "kernel_id": image.kernel_id,
        "ramdisk_id": image.ramdisk_id,
        "min_disk": image.min_disk,
        "min_ram": image.min_ram,
    }
