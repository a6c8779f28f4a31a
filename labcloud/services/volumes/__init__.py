"""Volumes (Cinder): volumes and snapshots on file or LVM backends, attached to servers
(attach.py), exported over NBD to other nodes (export.py), booted from (part.py)."""

from __future__ import annotations

from labcloud.services.volumes.devices import CANDIDATES, choose_device, serial_of
from labcloud.services.volumes.models import GIB, check_size, gib_ceil
from labcloud.services.volumes.service import VolumeService

__all__ = [
    "CANDIDATES",
    "GIB",
    "VolumeService",
    "check_size",
    "choose_device",
    "gib_ceil",
    "serial_of",
]
