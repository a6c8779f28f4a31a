"""The newc cpio format the kernel unpacks an initramfs from, and an in-memory tree
(Initramfs) written as one."""

from __future__ import annotations

import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

# --- newc cpio -----------------------------------------------------------------------------

_NEWC_MAGIC = b"070701"
_TRAILER = "TRAILER!!!"


@dataclass(frozen=True)
class CpioEntry:
    path: str  # relative to the archive root, no leading "/"
    mode: int  # st_mode, file type included
    data: bytes = b""  # file contents, or the target of a symlink
    rdev: tuple[int, int] = (0, 0)  # (major, minor) for device nodes
    uid: int = 0
    gid: int = 0
    mtime: int = 0


def _pad4(n: int) -> bytes:
    return b"\0" * (-n % 4)


def write_newc(entries: Iterable[CpioEntry], out: BinaryIO) -> None:
    """Write a newc ("070701") archive, as the kernel's initramfs unpacker reads it.

    Inode numbers count up from 1 in entry order so the archive is reproducible; each entry
    has its own inode (no hard links), so nlink is 1, or 2 for directories.
    """
    ino = 0
    for entry in [*entries, CpioEntry(_TRAILER, 0)]:
        is_trailer = entry.path == _TRAILER
        name = entry.path.encode() + b"\0"
        if not is_trailer:
            ino += 1
        fields = (
            0 if is_trailer else ino,
            entry.mode,
            entry.uid,
            entry.gid,
            2 if stat.S_ISDIR(entry.mode) else (0 if is_trailer else 1),
            entry.mtime,
            len(entry.data),
            0,  # devmajor, devminor: of the filesystem the file came from
            0,
            entry.rdev[0],
            entry.rdev[1],
            len(name),
            0,  # check: only for the "070702" crc format
        )
        header = _NEWC_MAGIC + b"".join(b"%08X" % f for f in fields)
        out.write(header + name + _pad4(len(header) + len(name)))
        out.write(entry.data + _pad4(len(entry.data)))


def read_newc(data: bytes) -> list[CpioEntry]:
    """Parse a newc archive (the inverse of write_newc, trailer left out)."""
    entries: list[CpioEntry] = []
    pos = 0
    while True:
        if data[pos : pos + 6] != _NEWC_MAGIC:
            raise ValueError(f"bad newc magic at offset {pos}")
        f = [int(data[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i in range(13)]
        mode, uid, gid, mtime, size, rmaj, rmin, namesize = (
            f[1], f[2], f[3], f[5], f[6], f[9], f[10], f[11],
        )  # fmt: skip
        name_start = pos + 110
        name = data[name_start : name_start + namesize - 1].decode()
        pos = name_start + namesize
        pos += -pos % 4
        body = data[pos : pos + size]
        pos += size
        pos += -pos % 4
        if name == _TRAILER:
            return entries
        entries.append(CpioEntry(name, mode, body, (rmaj, rmin), uid, gid, mtime))


@dataclass
class Initramfs:
    """A tree of entries to archive; parents are added as needed, output order is sorted
    (a parent sorts before its children, as the kernel's unpacker needs)."""

    entries: dict[str, CpioEntry] = field(default_factory=dict)

    def _parents(self, path: str) -> None:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            parent = "/".join(parts[:i])
            if parent not in self.entries:
                self.entries[parent] = CpioEntry(parent, stat.S_IFDIR | 0o755)

    def _add(self, entry: CpioEntry) -> None:
        path = entry.path.strip("/")
        if not path or ".." in path.split("/"):
            raise ValueError(f"bad archive path {entry.path!r}")
        self._parents(path)
        self.entries[path] = CpioEntry(
            path, entry.mode, entry.data, entry.rdev, entry.uid, entry.gid, entry.mtime
        )

    def dir(self, path: str, perm: int = 0o755) -> None:
        self._add(CpioEntry(path, stat.S_IFDIR | perm))

    def file(self, path: str, data: bytes | str, perm: int = 0o644) -> None:
        raw = data.encode() if isinstance(data, str) else data
        self._add(CpioEntry(path, stat.S_IFREG | perm, raw))

    def symlink(self, path: str, target: str) -> None:
        self._add(CpioEntry(path, stat.S_IFLNK | 0o777, target.encode()))

    def chardev(self, path: str, major: int, minor: int, perm: int = 0o600) -> None:
        self._add(CpioEntry(path, stat.S_IFCHR | perm, rdev=(major, minor)))

    def __iter__(self) -> Iterator[CpioEntry]:
        return iter(self.entries[key] for key in sorted(self.entries))

    def write(self, out: BinaryIO) -> None:
        write_newc(self, out)
