"""The host's kernel and its modules, as the tiny image ships them: the newest kernel
in /boot, its PVH entry (ELF notes), and the modules the guest needs with their
dependencies from modules.dep. Pure reading: nothing on the host is changed."""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
import struct
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path

from labcloud.errors import BackendError

BOOT_DIR = Path("/boot")
MODULES_ROOT = Path("/lib/modules")


class TinyImageError(BackendError, RuntimeError):
    """The tiny image cannot be built on this host; the message says what to install."""

    def __str__(self) -> str:
        # Callers that only print str(e) still see what to install.
        return self.one_line()


_VERSION_PART = re.compile(r"(\d+)")


def _version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    # "6.1.0-10" < "6.1.0-9" as strings; compare digit runs as numbers instead.
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part)
        for part in _VERSION_PART.split(version)
        if part
    )


def find_host_kernel(
    boot_dir: Path = BOOT_DIR, modules_root: Path = MODULES_ROOT
) -> tuple[Path, str]:
    """The newest boot_dir/vmlinuz-<ver> that has modules_root/<ver>, and <ver>."""
    found: list[tuple[Path, str]] = []
    for kernel in boot_dir.glob("vmlinuz-*"):
        version = kernel.name.removeprefix("vmlinuz-")
        if kernel.is_file() and (modules_root / version / "modules.dep").is_file():
            found.append((kernel, version))
    if not found:
        raise TinyImageError(
            f"no kernel in {boot_dir} with modules in {modules_root}",
            "install the Debian package linux-image-amd64",
        )
    return max(found, key=lambda kv: _version_key(kv[1]))


def _elf_program_headers(data: bytes) -> list[tuple[int, int, int]]:
    """(p_type, p_offset, p_filesz) of each program header of an ELF file."""
    if data[:4] != b"\x7fELF":
        raise ValueError("not an ELF file")
    is64 = data[4] == 2
    order = "<" if data[5] == 1 else ">"
    if is64:
        phoff = struct.unpack_from(order + "Q", data, 32)[0]
        phentsize, phnum = struct.unpack_from(order + "HH", data, 54)
        layout, fields = order + "IIQQQQ", (0, 2, 5)  # type, flags, offset, vaddr, paddr, filesz
    else:
        phoff = struct.unpack_from(order + "I", data, 28)[0]
        phentsize, phnum = struct.unpack_from(order + "HH", data, 42)
        layout, fields = order + "IIIII", (0, 1, 4)  # type, offset, vaddr, paddr, filesz
    headers = []
    for i in range(phnum):
        raw = struct.unpack_from(layout, data, phoff + i * phentsize)
        headers.append((raw[fields[0]], raw[fields[1]], raw[fields[2]]))
    return headers


def elf_has_interpreter(data: bytes) -> bool:
    """True if the ELF file asks for a dynamic loader (has a PT_INTERP program header)."""
    pt_interp = 3
    return any(p_type == pt_interp for p_type, _, _ in _elf_program_headers(data))


def _elf_has_pvh_entry(data: bytes) -> bool:
    """True if a vmlinux ELF has the Xen PVH entry note, which QEMU's -kernel needs to boot
    an ELF directly (QEMU >= 4.0, "pc" and "q35" machines)."""
    pt_note, xen_elfnote_phys32_entry = 4, 18
    order = "<" if data[5] == 1 else ">"
    for p_type, offset, size in _elf_program_headers(data):
        if p_type != pt_note:
            continue
        pos, end = offset, offset + size
        while pos + 12 <= end:
            namesz, descsz, n_type = struct.unpack_from(order + "III", data, pos)
            name = data[pos + 12 : pos + 12 + namesz].rstrip(b"\0")
            if name == b"Xen" and n_type == xen_elfnote_phys32_entry:
                return True
            pos += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    return False


def extract_pvh_kernel(bzimage: bytes) -> bytes | None:
    """The uncompressed vmlinux ELF inside an x86 bzImage, if QEMU can boot it directly.

    Under TCG a guest spends ~3 s unpacking an xz-compressed kernel before it prints a
    line; booting the ELF through its PVH entry skips that (boot-to-ready drops from ~6.5 s
    to ~3.2 s). None when the payload's compression is not in the standard library or the
    ELF has no PVH entry: then the bzImage itself is used.
    """
    if len(bzimage) < 0x250 or bzimage[0x202:0x206] != b"HdrS":
        return None
    (boot_protocol,) = struct.unpack_from("<H", bzimage, 0x206)
    if boot_protocol < 0x208:  # payload_offset/length appeared in boot protocol 2.08
        return None
    setup_sects = bzimage[0x1F1] or 4
    payload_offset, payload_length = struct.unpack_from("<II", bzimage, 0x248)
    start = (setup_sects + 1) * 512 + payload_offset
    payload = bzimage[start : start + payload_length]
    decompressor: lzma.LZMADecompressor | bz2.BZ2Decompressor | zlib._Decompress
    if payload.startswith(b"\xfd7zXZ\x00"):
        decompressor = lzma.LZMADecompressor(lzma.FORMAT_XZ)
    elif payload.startswith(b"\x1f\x8b"):
        decompressor = zlib.decompressobj(wbits=31)
    elif payload.startswith(b"\x5d\x00\x00"):
        decompressor = lzma.LZMADecompressor(lzma.FORMAT_ALONE)
    elif payload.startswith(b"BZh"):
        decompressor = bz2.BZ2Decompressor()
    else:  # lz4, lzo, zstd
        return None
    try:
        # A decompressor object, not lzma.decompress(): the payload ends with the
        # uncompressed size, which is not part of the stream.
        vmlinux = decompressor.decompress(payload)
    except (lzma.LZMAError, zlib.error, OSError, EOFError):
        return None
    try:
        return vmlinux if _elf_has_pvh_entry(vmlinux) else None
    except (ValueError, struct.error):
        return None


# --- Kernel modules ------------------------------------------------------------------------

_MODULE_SUFFIXES = (".ko", ".ko.xz", ".ko.gz", ".ko.zst")


def module_name(path: str) -> str:
    """Module name of a path: "kernel/drivers/char/hw_random/virtio-rng.ko.xz" -> "virtio_rng"."""
    base = path.rsplit("/", 1)[-1]
    for suffix in _MODULE_SUFFIXES:
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return base.replace("-", "_")


def parse_modules_dep(text: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """modules.dep -> {name: (relative path, (dependency paths...))}."""
    modules: dict[str, tuple[str, tuple[str, ...]]] = {}
    for line in text.splitlines():
        path, sep, deps = line.partition(":")
        if not sep or not path.strip():
            continue
        modules[module_name(path.strip())] = (path.strip(), tuple(deps.split()))
    return modules


def parse_modules_builtin(text: str) -> set[str]:
    return {module_name(line.strip()) for line in text.splitlines() if line.strip()}


def resolve_modules(
    wanted: Iterable[str],
    modules_dep: Mapping[str, tuple[str, tuple[str, ...]]],
    builtin: Iterable[str] = (),
) -> list[str]:
    """Paths of the wanted modules and their dependencies, each after all it depends on.

    Built-in modules need no loading and are left out. A module that is neither in
    modules.dep nor built in raises TinyImageError: the guest would silently lack a device.
    """
    builtin_set = {name.replace("-", "_") for name in builtin}
    by_path = {path: name for name, (path, _deps) in modules_dep.items()}
    order: list[str] = []
    done: set[str] = set()
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            raise TinyImageError(f"module dependency cycle through {name}", "check modules.dep")
        visiting.add(name)
        path, deps = modules_dep[name]
        # modules.dep lists each module's full closure, most basic last; visiting each
        # dependency's own line keeps the order right whatever the listing order.
        for dep_path in reversed(deps):
            dep = by_path.get(dep_path, module_name(dep_path))
            if dep not in modules_dep:
                raise TinyImageError(
                    f"module {name} needs {dep_path}, which modules.dep does not list",
                    "run depmod or reinstall the kernel package",
                )
            visit(dep)
        visiting.discard(name)
        done.add(name)
        order.append(path)

    for raw in wanted:
        name = raw.replace("-", "_")
        if name in modules_dep:
            visit(name)
        elif name not in builtin_set:
            raise TinyImageError(
                f"kernel module {name} is neither built in nor in modules.dep",
                "use a kernel with virtio drivers, e.g. the Debian package linux-image-amd64",
            )
    return order


def uncompressed_path(path: str) -> str:
    """Map "a/b.ko.xz" to "a/b.ko": the name a module gets in the ramdisk, where it is plain."""
    for suffix in (".xz", ".gz", ".zst"):
        if path.endswith(".ko" + suffix):
            return path.removesuffix(suffix)
    return path


def read_module(path: Path) -> bytes:
    """A module's bytes, uncompressed: busybox insmod may lack xz/zstd, and gzip of the
    whole ramdisk compresses plain modules about as well."""
    data = path.read_bytes()
    if path.name.endswith(".ko.xz"):
        return lzma.decompress(data)
    if path.name.endswith(".ko.gz"):
        return gzip.decompress(data)
    if path.name.endswith(".ko.zst"):
        raise TinyImageError(
            f"{path} is zstd-compressed, which this builder cannot unpack",
            "use a kernel with uncompressed or xz modules",
        )
    return data
