"""The file volume backend: each volume or snapshot is one qcow2 (or raw) file.

Files live in one directory and are named `volume-<uuid>` or `snapshot-<uuid>`, so the
location of anything is known from its id alone and nothing else in the directory is
ever touched. Copies (from an image, a snapshot or another volume) are made by qemu-img
with -U, so a volume attached to a running guest can be read while QEMU holds it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from labcloud.backends.host_agent import run

from labcloud.errors import BackendError

_NAME_RE = re.compile(r"^(volume|snapshot)-[0-9a-f-]{36}$")


class FileVolumes:
    kind = "file"
    # A running QEMU grows the file itself (libvirt blockResize); nothing to do first.
    live_extend = "hypervisor"

    def __init__(self, name: str, directory: Path, file_format: str = "qcow2") -> None:
        self.name = name
        self.directory = directory
        self.file_format = file_format

    # -- where things are -----------------------------------------------------------
    def ensure(self) -> dict[str, object]:
        self.directory.mkdir(parents=True, exist_ok=True)
        return {"backend": self.name, "type": self.kind, "path": str(self.directory)}

    def locate(self, kind: str, resource_id: str) -> str:
        return str(self.directory / f"{kind}-{resource_id}")

    def _own(self, location: str) -> Path:
        path = Path(location)
        if path.parent != self.directory or not _NAME_RE.fullmatch(path.name):
            raise BackendError(f"refusing to touch {location}: not a {self.name} volume file")
        return path

    def disk_spec(self, location: str) -> dict[str, object]:
        return {"path": location, "file_format": self.file_format, "source_type": "file"}

    # -- making ---------------------------------------------------------------------
    def create(self, volume_id: str, size: int, source: dict[str, str] | None = None) -> str:
        """A volume of `size` bytes: blank, or a copy of an image, snapshot or volume."""
        self.ensure()
        path = self._own(self.locate("volume", volume_id))
        try:
            if source is None:
                run(
                    [
                        "qemu-img",
                        "create",
                        "-q",
                        "-f",
                        self.file_format,
                        "--",
                        str(path),
                        str(size),
                    ],
                    "create the volume file",
                )
            else:
                self._copy(source["path"], source.get("format", self.file_format), path)
                if _virtual_size(path) < size:
                    self._resize(path, size)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return str(path)

    def snapshot(self, snapshot_id: str, volume_location: str) -> str:
        """A full, independent copy of the volume as it is now."""
        src = self._own(volume_location)
        path = self._own(self.locate("snapshot", snapshot_id))
        try:
            self._copy(str(src), self.file_format, path)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return str(path)

    def source(self, location: str) -> dict[str, str]:
        """How another create reads this volume or snapshot."""
        return {"path": str(self._own(location)), "format": self.file_format}

    def extend(self, location: str, size: int) -> None:
        self._resize(self._own(location), size)

    def delete(self, location: str) -> None:
        self._own(location).unlink(missing_ok=True)

    # -- facts ----------------------------------------------------------------------
    def size_of(self, location: str) -> int | None:
        path = self._own(location)
        return _virtual_size(path) if path.exists() else None

    def free_bytes(self) -> int | None:
        return None  # sparse files: the file system's space is not reserved up front

    def owned(self) -> list[str]:
        """Locations of every volume and snapshot file in the directory."""
        if not self.directory.is_dir():
            return []
        return sorted(str(p) for p in self.directory.iterdir() if _NAME_RE.fullmatch(p.name))

    # -- helpers --------------------------------------------------------------------
    def _copy(self, src: str, src_format: str, dst: Path) -> None:
        run(
            [
                "qemu-img",
                "convert",
                "-U",
                "-q",
                "-f",
                src_format,
                "-O",
                self.file_format,
                "--",
                src,
                str(dst),
            ],
            "copy the data into the volume",
            timeout=3600,
        )

    def _resize(self, path: Path, size: int) -> None:
        run(
            ["qemu-img", "resize", "-q", "-f", self.file_format, "--", str(path), str(size)],
            "resize the volume file",
        )


def _virtual_size(path: Path) -> int:
    out = run(["qemu-img", "info", "-U", "--output=json", "--", str(path)], f"inspect {path}")
    return int(json.loads(out)["virtual-size"])
