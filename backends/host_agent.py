"""The host agent: every system action on a node other than libvirt's.

The local node runs it in-process. Its methods take and return plain JSON-able
values, so a remote node can run the very same code shipped over SSH.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections import deque
from collections.abc import Callable
from pathlib import Path

from labcloud.backends import kvm_probe

from labcloud.errors import BackendError, UsageError

_COPY_CHUNK = 4 * 1024 * 1024


def run(argv: list[str], what: str, timeout: float = 300) -> str:
    """Run a command from an argv list; a failure becomes one line naming what failed."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise BackendError(f"cannot {what}: {argv[0]} is not installed", "run `make run`") from None
    except subprocess.TimeoutExpired:
        raise BackendError(f"cannot {what}: {argv[0]} took longer than {timeout:g} s") from None
    if proc.returncode != 0:
        err = " ".join((proc.stderr or proc.stdout).split())[:300]
        raise BackendError(f"cannot {what}: {err or f'{argv[0]} exited {proc.returncode}'}")
    return proc.stdout


class LocalAgent:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    # -- accelerator ----------------------------------------------------------------
    def virt_type(self, requested: str) -> str:
        """kvm or qemu (TCG). `auto` probes once per host boot and remembers the answer."""
        if requested != "auto":
            return requested
        cache = self.state_dir / "virt-type.json"
        boot_id = _boot_id()
        try:
            cached = json.loads(cache.read_text())
            if cached.get("boot_id") == boot_id and cached.get("virt_type") in ("kvm", "qemu"):
                return str(cached["virt_type"])
        except (OSError, ValueError):
            pass
        answer = "kvm" if kvm_probe.kvm_works() else "qemu"
        _write_atomic(cache, json.dumps({"boot_id": boot_id, "virt_type": answer}).encode())
        return answer

    # -- disks ----------------------------------------------------------------------
    def image_info(self, path: str, in_use: bool = False) -> dict[str, object]:
        """`qemu-img info`; in_use (-U) reads the header of a disk a running guest holds."""
        share = ["-U"] if in_use else []
        out = run(["qemu-img", "info", *share, "--output=json", "--", path], f"inspect {path}")
        return dict(json.loads(out))

    def create_overlay(self, backing: str, backing_format: str, path: str, size: int) -> None:
        """A qcow2 overlay whose header records its backing file's format."""
        run(
            [
                "qemu-img",
                "create",
                "-q",
                "-f",
                "qcow2",
                "-F",
                backing_format,
                "-b",
                backing,
                "--",
                path,
                str(size),
            ],
            "create the root disk",
        )

    def create_blank(self, path: str, file_format: str, size: int) -> None:
        run(
            ["qemu-img", "create", "-q", "-f", file_format, "--", path, str(size)],
            "create a blank disk",
        )

    # -- files ----------------------------------------------------------------------
    def make_dir(self, path: str) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)

    def remove_tree(self, path: str) -> None:
        target = Path(path).resolve()
        root = self.state_dir.resolve()
        if root not in target.parents:
            raise BackendError(f"refusing to remove {path}: it is outside {root}")
        shutil.rmtree(target, ignore_errors=True)

    def remove_file(self, path: str) -> None:
        target = Path(path).resolve()
        if self.state_dir.resolve() not in target.parents:
            raise BackendError(f"refusing to remove {path}: it is outside the state directory")
        target.unlink(missing_ok=True)

    def list_dir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(path))
        except FileNotFoundError:
            return []

    def exists(self, path: str) -> bool:
        return Path(path).exists()

    def digest_files(self, path: str) -> list[dict[str, object]]:
        """The regular files directly in a directory: name, size and sha256 each (what a
        copy to another node is checked against). A missing directory has none."""
        found: list[dict[str, object]] = []
        for name in self.list_dir(path):
            full = Path(path) / name
            if not full.is_file() or full.is_symlink():
                continue
            digest, size = hashlib.sha256(), 0
            with open(full, "rb") as fh:
                while chunk := fh.read(_COPY_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
            found.append({"name": name, "size": size, "sha256": digest.hexdigest()})
        return found

    def tail(self, path: str, lines: int) -> str:
        try:
            with open(path, "rb") as fh:
                kept = deque(fh, maxlen=lines) if lines > 0 else deque(fh)
        except FileNotFoundError:
            return ""
        return b"".join(kept).decode("utf-8", "replace")

    def store_file(self, src: str, store_dir: str) -> tuple[str, int, str]:
        """Copy a file into the content-addressed store: (sha256, size, stored path).

        The copy is hashed as it streams, written under a temporary name and renamed,
        so a partial file is never visible and an interrupted copy leaves nothing.
        """
        store = Path(store_dir)
        store.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=store, prefix=".import-")
        try:
            with open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
                while chunk := fin.read(_COPY_CHUNK):
                    digest.update(chunk)
                    fout.write(chunk)
                    size += len(chunk)
                fout.flush()
                os.fsync(fout.fileno())
            final = store / digest.hexdigest()
            os.chmod(tmp, 0o644)
            os.replace(tmp, final)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise BackendError(f"cannot store {src}: {exc.strerror}") from None
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest.hexdigest(), size, str(final)

    # -- images (backends/image_store.py) and cloud-init seeds --------------------------
    def inspect_image(self, path: str) -> dict[str, object]:
        from labcloud.backends import image_store

        return image_store.inspect(path)

    def import_image(
        self,
        src: str,
        store_dir: str,
        tmp_name: str,
        convert_from: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> tuple[str, int]:
        from labcloud.backends import image_store

        return image_store.import_file(src, store_dir, tmp_name, convert_from, progress)

    def snapshot_disk(
        self,
        src: str,
        store_dir: str,
        tmp_name: str,
        progress: Callable[[int, int], None] | None = None,
        src_format: str = "qcow2",
    ) -> tuple[str, int]:
        from labcloud.backends import image_store

        return image_store.snapshot_disk(src, store_dir, tmp_name, progress, src_format)

    def publish_image(self, store_dir: str, tmp_name: str, digest: str) -> str:
        from labcloud.backends import image_store

        return image_store.publish(store_dir, tmp_name, digest)

    def export_image(
        self, src: str, dest: str, progress: Callable[[int, int], None] | None = None
    ) -> int:
        from labcloud.backends import image_store

        return image_store.export_file(src, dest, progress)

    def set_link_up(self, name: str, up: bool) -> None:
        """A labcloud tap up or down (a port's admin state); a tap that is gone is fine."""
        if not (name.startswith("lc") and len(name) <= 15 and name.replace("-", "").isalnum()):
            raise BackendError(f"refusing to touch interface {name!r}: not one of labcloud's")
        if Path(f"/sys/class/net/{name}").exists():
            run(["ip", "link", "set", "dev", name, "up" if up else "down"], f"set {name}")

    def apply_filter(self, spec: dict[str, object]) -> None:
        """This node's security group ruleset (backends/nftables.py), loaded atomically."""
        from labcloud.backends import nftables

        nftables.apply_filter(spec)

    def write_seed(self, path: str, files: dict[str, bytes]) -> None:
        from labcloud.backends import cloud_init_seed

        cloud_init_seed.build_seed(path, files)

    def write_seed_b64(self, path: str, files: dict[str, str]) -> None:
        """write_seed over the remote agent's JSON (which carries no bytes)."""
        import base64

        self.write_seed(path, {name: base64.b64decode(data) for name, data in files.items()})

    def build_tiny_image(self, workdir: str) -> dict[str, str]:
        from labcloud.backends import tinyimage

        try:
            built = tinyimage.build_tiny_image(Path(workdir))
        except tinyimage.TinyImageError as exc:
            raise UsageError(str(exc)) from None
        return {
            "kernel": str(built.kernel),
            "ramdisk": str(built.ramdisk),
            "kernel_version": built.kernel_version,
            "cmdline": tinyimage.KERNEL_CMDLINE_BASE,
        }


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def _write_atomic(path: Path, data: bytes) -> None:
    """Write under a temporary name of this writer's own, then rename over `path`: two
    processes writing at once (two probes on a fresh node) each rename their own file, so
    neither finds its temporary gone, and a reader sees one whole file or the other."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
