"""A cloud-init NoCloud seed: an ISO 9660 image labelled "cidata", built with pycdlib.

The files (meta-data, user-data, network-config) come from the service as bytes; this
module only lays them out. Names are given three ways, so every reader sees the real
ones: ISO 9660 level-1 names (8.3), Rock Ridge (Linux's default) and Joliet (Windows).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pycdlib

LABEL = "cidata"
# The files cloud-init's NoCloud source reads, and their short ISO 9660 names.
SHORT_NAMES = {
    "meta-data": "METADATA.;1",
    "user-data": "USERDATA.;1",
    "vendor-data": "VENDORDA.;1",
    "network-config": "NETWORKC.;1",
}


def build_seed(path: str, files: dict[str, bytes]) -> None:
    """Write the seed ISO to path atomically (a temp file renamed into place)."""
    unknown = set(files) - set(SHORT_NAMES)
    if unknown:
        raise ValueError(f"not a NoCloud seed file: {sorted(unknown)}")
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=1, joliet=3, rock_ridge="1.09", vol_ident=LABEL)
    for name in sorted(files):
        data = files[name]
        iso.add_fp(
            io.BytesIO(data),
            len(data),
            "/" + SHORT_NAMES[name],
            rr_name=name,
            joliet_path="/" + name,
        )
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        iso.write(str(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        iso.close()
        tmp.unlink(missing_ok=True)


def read_seed(path: str) -> tuple[str, dict[str, bytes]]:
    """(volume label, {Rock Ridge name: bytes}): what a guest would see; for checks."""
    iso = pycdlib.PyCdlib()
    iso.open(path)
    try:
        label = iso.pvd.volume_identifier.decode().strip()
        out: dict[str, bytes] = {}
        for child in iso.list_children(rr_path="/"):
            if child.is_dot() or child.is_dotdot():
                continue
            name = child.rock_ridge.name().decode()
            buf = io.BytesIO()
            iso.get_file_from_iso_fp(buf, rr_path="/" + name)
            out[name] = buf.getvalue()
        return label, out
    finally:
        iso.close()
