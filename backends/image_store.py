"""Image files on a node: inspect what a file really is, and move it into the store.

Inspection never trusts a name or an extension. It sniffs the headers itself first
(qcow2 backing and external data files, VMDK descriptors, the ISO 9660 signature), and
only runs `qemu-img info` on files that do not point at other files, under resource
limits, since a crafted image can make qemu-img open a FIFO or spin. The service decides
what is acceptable; this module reports facts.

Writes go to a temporary name (journalled by the caller) and are renamed to their sha256
only when complete, so a partial file is never visible; a failed write removes its file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

from labcloud.backends.image_pipe import copy_hashing

from labcloud.errors import BackendError, UsageError

CHUNK = 8 * 1024 * 1024
TMP_PREFIX = ".import-"
# As Nova and Glance do: qemu-img on an untrusted file gets 1 GiB of address space and
# 30 s of CPU, so a crafted header cannot exhaust the host.
QEMU_IMG_AS = 1024**3
QEMU_IMG_CPU = 30

Progress = Callable[[int, int], None]


# -- sniffing -----------------------------------------------------------------------
def sniff(path: str) -> dict[str, object]:
    """What the first bytes say, without any external tool."""
    facts: dict[str, object] = {}
    with open(path, "rb") as fh:
        head = fh.read(64 * 1024)
        fh.seek(0x8001)
        facts["iso9660"] = fh.read(5) == b"CD001"
    if head[:4] == b"QFI\xfb" and len(head) >= 72:
        version, backing_offset, backing_size = struct.unpack(">IQI", head[4:20])
        facts["qcow2"] = True
        facts["qcow2_version"] = version
        facts["backing_file"] = ""
        if backing_offset:
            raw = head[backing_offset : backing_offset + backing_size]
            facts["backing_file"] = raw.decode("utf-8", "replace") or "(unreadable)"
        if version >= 3 and len(head) >= 104:
            (incompatible,) = struct.unpack(">Q", head[72:80])
            # bit 2: the guest data lives in an external data file
            facts["data_file"] = bool(incompatible & 4)
    if head.startswith(b"# Disk DescriptorFile"):
        # A text VMDK: every extent is another file, by definition.
        facts["vmdk_descriptor"] = True
        facts["vmdk_extents"] = _vmdk_extent_files(head.decode("utf-8", "replace"))
    return facts


_EXTENT_RE = re.compile(r'^\s*(RW|RDONLY|NOACCESS)\s+\d+\s+\w+\s+"([^"]*)"', re.MULTILINE)


def _vmdk_extent_files(text: str) -> list[str]:
    return [m.group(2) for m in _EXTENT_RE.finditer(text)]


def _limits() -> None:  # runs in the child before exec
    resource.setrlimit(resource.RLIMIT_AS, (QEMU_IMG_AS, QEMU_IMG_AS))
    resource.setrlimit(resource.RLIMIT_CPU, (QEMU_IMG_CPU, QEMU_IMG_CPU))


def _qemu_img(argv: list[str], what: str, timeout: float) -> str:
    try:
        proc = subprocess.run(
            ["qemu-img", *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            preexec_fn=_limits,
        )
    except FileNotFoundError:
        raise BackendError(f"cannot {what}: qemu-img is not installed") from None
    except subprocess.TimeoutExpired:
        raise BackendError(f"cannot {what}: qemu-img took longer than {timeout:g} s") from None
    if proc.returncode != 0:
        err = " ".join((proc.stderr or proc.stdout).split())[:300]
        raise BackendError(f"cannot {what}: {err or f'qemu-img exited {proc.returncode}'}")
    return proc.stdout


def check_readable(path: str, option: str) -> int:
    """The size of a regular, readable file; a one-line usage error otherwise."""
    try:
        st = os.stat(path)
        if not os.path.isfile(path):
            raise UsageError(f"{option} {path}: not a regular file")
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise UsageError(f"{option} {path}: {exc.strerror or exc}") from None
    return st.st_size


def inspect(path: str, option: str = "--file") -> dict[str, object]:
    """{"size", "sniff", "qemu"}: qemu is `qemu-img info` (None when sniffing found
    references to other files, which the caller refuses without opening them)."""
    size = check_readable(path, option)
    facts = sniff(path)
    risky = facts.get("backing_file") or facts.get("data_file") or facts.get("vmdk_descriptor")
    qemu = None
    if not risky:
        # -U: a running guest may hold the lock on a snapshot source; reading is safe.
        out = _qemu_img(["info", "-U", "--output=json", "--", path], f"inspect {path}", 60)
        qemu = json.loads(out)
    return {"size": size, "sniff": facts, "qemu": qemu}


# -- writing into the store ---------------------------------------------------------
class _Partial:
    """A temporary file in the store, created exclusively (never over another's)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)

    def close(self, keep: bool) -> None:
        if not keep:
            self.path.unlink(missing_ok=True)
        os.close(self.fd)


def _hash_file(path: Path, progress: Progress | None) -> tuple[str, int]:
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with open(path, "rb", buffering=0) as fh:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while n := fh.readinto(buf):
            digest.update(view[:n])
            done += n
            if progress:
                progress(done, total)
    return digest.hexdigest(), done


def publish(store_dir: str, tmp_name: str, digest: str) -> str:
    """Rename a finished temporary file to its sha256 (or drop it when that exists)."""
    store = Path(store_dir)
    tmp, final = store / tmp_name, store / digest
    if final.exists():
        tmp.unlink(missing_ok=True)  # the same bytes are already stored: one copy is enough
    else:
        os.chmod(tmp, 0o644)
        os.replace(tmp, final)
    return str(final)


def import_file(
    src: str,
    store_dir: str,
    tmp_name: str,
    convert_from: str | None = None,
    progress: Progress | None = None,
) -> tuple[str, int]:
    """Copy (or convert to qcow2) src to store_dir/tmp_name: (sha256, size).

    The caller publishes it (renames it to its digest) once it has journalled the digest;
    on any failure here the temporary file is gone.
    """
    store = Path(store_dir)
    store.mkdir(parents=True, exist_ok=True)
    partial = _Partial(store / tmp_name)
    ok = False
    try:
        if convert_from:
            _qemu_img(
                ["convert", "-q", "-f", convert_from, "-O", "qcow2", "--", src, str(partial.path)],
                f"convert {src} from {convert_from} to qcow2",
                3600,
            )
            digest, size = _hash_file(partial.path, progress)
        else:
            digest, size = copy_file_hashing(src, partial.fd, str(partial.path), progress)
        os.fsync(partial.fd)
        ok = True
        return digest, size
    except OSError as exc:
        raise BackendError(f"cannot store {src}: {exc.strerror or exc}") from None
    finally:
        partial.close(keep=ok)


def copy_file_hashing(
    src: str, out_fd: int, out_path: str, progress: Progress | None
) -> tuple[str, int]:
    """Copy src to out_fd while hashing the copy, across both cores (image_pipe.py): the
    import takes about as long as hashing alone, and the bytes hashed are the bytes
    stored. A source that changes meanwhile would be stored torn: its size and times
    are compared before and after, and a changed source fails the import.
    """
    with open(src, "rb", buffering=0) as fin:
        before = _identity(os.fstat(fin.fileno()))
        total = before[0]
        os.posix_fadvise(fin.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
        digest, written = copy_hashing(fin.fileno(), out_fd, out_path, total, progress)
        if _identity(os.fstat(fin.fileno())) != before or written != total:
            raise BackendError(f"cannot store {src}: it changed while it was imported")
    return digest, written


def _identity(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns


def snapshot_disk(
    src: str,
    store_dir: str,
    tmp_name: str,
    progress: Progress | None = None,
    src_format: str = "qcow2",
) -> tuple[str, int]:
    """A standalone qcow2 of a server's disk in the store: its overlay chain flattened,
    or a boot volume's file or block device (src_format qcow2 or raw).

    -U reads past the running QEMU's lock; the caller pauses the guest first, and a
    pause makes QEMU drain and flush its block layer, so the file is consistent.
    """
    store = Path(store_dir)
    store.mkdir(parents=True, exist_ok=True)
    partial = _Partial(store / tmp_name)
    ok = False
    try:
        _qemu_img(
            ["convert", "-q", "-U", "-f", src_format, "-O", "qcow2", "--", src, str(partial.path)],
            "copy the server's disk",
            3600,
        )
        digest, size = _hash_file(partial.path, progress)
        os.fsync(partial.fd)
        ok = True
        return digest, size
    except OSError as exc:
        raise BackendError(f"cannot snapshot {src}: {exc.strerror or exc}") from None
    finally:
        partial.close(keep=ok)


def export_file(src: str, dest: str, progress: Progress | None = None) -> int:
    """Write a stored image out to dest, atomically (temp file in dest's directory)."""
    target = Path(dest)
    if target.is_dir():
        raise UsageError(f"--file {dest}: is a directory")
    tmp = target.with_name(f".{target.name}.labcloud-partial")
    done = 0
    try:
        fout = open(tmp, "xb", buffering=0)  # noqa: SIM115 - closed below
    except OSError as exc:
        raise UsageError(f"--file {dest}: {exc.strerror or exc}") from None
    try:
        with open(src, "rb", buffering=0) as fin, fout:
            total = os.fstat(fin.fileno()).st_size
            buf = bytearray(CHUNK)
            view = memoryview(buf)
            while n := fin.readinto(buf):
                fout.write(view[:n])
                done += n
                if progress:
                    progress(done, total)
            os.fsync(fout.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"--file {dest}: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return done
