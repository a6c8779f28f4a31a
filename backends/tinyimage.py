"""Build the built-in "tiny" guest image, like CirrOS: the host kernel (aki) plus a busybox
ramdisk (ari), booted by direct kernel boot.

The ramdisk is a gzip'd newc cpio written here in pure Python, so no cpio binary and no root
are needed (device nodes are plain header fields), and the output is byte-for-byte
reproducible for the same host packages: fixed inode numbers, uids, mtimes and gzip header.

The guest's behaviour lives in the shell scripts of ``labcloud.backends.guest`` (package
data); the console lines they print are matched by the ``*_PATTERN`` constants below.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
import stat
import struct
import subprocess
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from labcloud.backends.guest_sshd import DROPBEAR, add_sshd

from labcloud.errors import BackendError

__all__ = [
    "BOOT_PATTERN",
    "CLOUDINIT_HOSTNAME_PATTERN",
    "CLOUDINIT_KEYS_PATTERN",
    "CLOUDINIT_USERDATA_PATTERN",
    "CONSOLE_PATTERNS",
    "DISK_ADDED_PATTERN",
    "DISK_PATTERN",
    "DISK_REMOVED_PATTERN",
    "DISK_RESIZED_PATTERN",
    "GUEST_MODULES",
    "HOSTNAME_PATTERN",
    "KERNEL_CMDLINE_BASE",
    "NIC_ADDED_PATTERN",
    "NIC_PATTERN",
    "NIC_REMOVED_PATTERN",
    "READY_PATTERN",
    "READY_UPTIME_PATTERN",
    "SHUTDOWN_PATTERN",
    "SSHD_PATTERN",
    "CpioEntry",
    "Initramfs",
    "TinyImage",
    "TinyImageError",
    "build_initramfs",
    "build_tiny_image",
    "extract_pvh_kernel",
    "find_host_kernel",
    "parse_console_line",
    "parse_modules_dep",
    "read_newc",
    "resolve_modules",
    "write_newc",
]

# --- What the lead puts in the domain -----------------------------------------------------

# `quiet` keeps kernel chatter (and its time under TCG) off the serial console; the lead
# appends " labcloud.hostname=NAME". No root=: the ramdisk is the root filesystem.
KERNEL_CMDLINE_BASE = "console=ttyS0,115200 quiet"

# --- Console lines printed by the guest (see backends/guest/) ------------------------------
# Lines end in "\r\n" on a serial console; the patterns use no anchors so they work with
# re.search on raw console text as well as on single lines.
_P = r"labcloud-tiny: "
BOOT_PATTERN = _P + r"boot (?P<version>\S+)"
HOSTNAME_PATTERN = _P + r"hostname (?P<hostname>[A-Za-z0-9.-]+)"
NIC_PATTERN = (
    _P + r"nic (?P<ifname>\S+) mac (?P<mac>[0-9a-f:]{17}) ip (?P<ip>none|\d+\.\d+\.\d+\.\d+/\d+)"
)
DISK_PATTERN = _P + r"disk (?P<name>\S+) size (?P<size>\d+)"
READY_PATTERN = _P + r"ready"
READY_UPTIME_PATTERN = _P + r"ready \(up (?P<uptime>\d+(?:\.\d+)?) s\)"
DISK_ADDED_PATTERN = _P + r"disk-added (?P<name>\S+) size (?P<size>\d+)"
DISK_REMOVED_PATTERN = _P + r"disk-removed (?P<name>\S+)"
DISK_RESIZED_PATTERN = _P + r"disk-resized (?P<name>\S+) size (?P<size>\d+)"
NIC_ADDED_PATTERN = _P + r"nic-added (?P<ifname>\S+) mac (?P<mac>[0-9a-f:]{17})"
NIC_REMOVED_PATTERN = _P + r"nic-removed (?P<ifname>\S+)"
CLOUDINIT_HOSTNAME_PATTERN = _P + r"cloud-init hostname (?P<hostname>[A-Za-z0-9.-]+)"
CLOUDINIT_KEYS_PATTERN = _P + r"cloud-init ssh-keys (?P<count>\d+)"
CLOUDINIT_USERDATA_PATTERN = _P + r"cloud-init user-data ran exit (?P<rc>\d+)"
SHUTDOWN_PATTERN = _P + r"shutdown"
SSHD_PATTERN = _P + r"sshd dropbear port (?P<port>\d+)"

# Most specific first: "nic-added" must not be read as "nic", "ready" has two shapes.
CONSOLE_PATTERNS: Mapping[str, re.Pattern[str]] = {
    name: re.compile(p)
    for name, p in (
        ("boot", BOOT_PATTERN),
        ("cloudinit_hostname", CLOUDINIT_HOSTNAME_PATTERN),
        ("cloudinit_keys", CLOUDINIT_KEYS_PATTERN),
        ("cloudinit_userdata", CLOUDINIT_USERDATA_PATTERN),
        ("hostname", HOSTNAME_PATTERN),
        ("nic_added", NIC_ADDED_PATTERN),
        ("nic_removed", NIC_REMOVED_PATTERN),
        ("nic", NIC_PATTERN),
        ("disk_added", DISK_ADDED_PATTERN),
        ("disk_removed", DISK_REMOVED_PATTERN),
        ("disk_resized", DISK_RESIZED_PATTERN),
        ("disk", DISK_PATTERN),
        ("ready", READY_UPTIME_PATTERN),
        ("shutdown", SHUTDOWN_PATTERN),
        ("sshd", SSHD_PATTERN),
    )
}


def parse_console_line(line: str) -> tuple[str, dict[str, str]] | None:
    """Classify one console line: ("nic", {"ifname": "eth0", ...}) or None if not ours."""
    if "labcloud-tiny: " not in line:
        return None
    for name, pattern in CONSOLE_PATTERNS.items():
        m = pattern.search(line)
        if m:
            return name, m.groupdict()
    return None


# --- Errors and result ---------------------------------------------------------------------


class TinyImageError(BackendError, RuntimeError):
    """The tiny image cannot be built on this host; the message says what to install."""

    def __str__(self) -> str:
        # Callers that only print str(e) still see what to install.
        return self.one_line()


@dataclass(frozen=True)
class TinyImage:
    kernel: Path  # the host kernel (aki): its vmlinux ELF for PVH boot, or a copy of it
    ramdisk: Path  # gzip'd newc cpio initramfs (ari)
    kernel_version: str


# --- Host inputs ---------------------------------------------------------------------------

BOOT_DIR = Path("/boot")
MODULES_ROOT = Path("/lib/modules")
BUSYBOX = Path("/usr/bin/busybox")

# Drivers the guest needs for what libvirt gives it: virtio NICs/disks/SCSI/console/rng/
# balloon, a NoCloud "cidata" CD-ROM on IDE (pc), SATA (q35) or virtio-scsi, SCSI/SATA data
# disks, and the ACPI power button so `virsh shutdown` powers off cleanly. Dependencies are
# added from modules.dep; names here use underscores, as the kernel does.
GUEST_MODULES: tuple[str, ...] = (
    "virtio_pci",
    "virtio_net",
    "virtio_blk",
    "virtio_scsi",
    "virtio_console",
    "virtio_rng",
    "virtio_balloon",
    "libata",
    "ata_piix",
    "ahci",
    "sd_mod",
    "sr_mod",
    "isofs",
    "button",
    "evdev",
)

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


def _check_static_busybox(busybox: Path) -> bytes:
    """Read the busybox binary; it must be static, as the ramdisk has no libc."""
    try:
        data = busybox.read_bytes()
    except FileNotFoundError:
        raise TinyImageError(
            f"{busybox} not found", "install the Debian package busybox-static"
        ) from None
    try:
        dynamic = elf_has_interpreter(data)
    except (ValueError, struct.error):
        raise TinyImageError(
            f"{busybox} is not an ELF binary", "install the Debian package busybox-static"
        ) from None
    if dynamic:
        raise TinyImageError(
            f"{busybox} is dynamically linked", "install the Debian package busybox-static"
        )
    return data


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


def _uncompressed_path(path: str) -> str:
    """Map "a/b.ko.xz" to "a/b.ko": the name a module gets in the ramdisk, where it is plain."""
    for suffix in (".xz", ".gz", ".zst"):
        if path.endswith(".ko" + suffix):
            return path.removesuffix(suffix)
    return path


def _read_module(path: Path) -> bytes:
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


# --- The guest's files ---------------------------------------------------------------------

GUEST_DIR = Path(__file__).with_name("guest")

_PASSWD = "root:x:0:0:root:/root:/bin/sh\n"
_GROUP = "root:x:0:\n"
_SHADOW = "root::19000:0:99999:7:::\n"  # no password: the console is the way in
_HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost\n"
_PROFILE = """\
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
export HOME=/root
export PS1='\\h:\\w\\$ '
"""
_OS_RELEASE = """\
NAME="labcloud tiny"
ID=labcloud-tiny
PRETTY_NAME="labcloud tiny (busybox)"
"""


def _busybox_applets(busybox: Path) -> list[str]:
    """Applet paths ("bin/ls", "usr/bin/[") from the very binary being shipped."""
    try:
        result = subprocess.run(
            [str(busybox), "--list-full"], capture_output=True, text=True, check=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise TinyImageError(
            f"cannot list busybox applets: {exc}", "install the Debian package busybox-static"
        ) from exc
    return sorted({line.strip().lstrip("/") for line in result.stdout.splitlines() if line})


def build_initramfs(
    kernel_version: str,
    *,
    modules_root: Path = MODULES_ROOT,
    busybox: Path = BUSYBOX,
    guest_dir: Path = GUEST_DIR,
    modules: Iterable[str] = GUEST_MODULES,
    dropbear: Path | None = DROPBEAR,
) -> Initramfs:
    """Lay out the guest's root filesystem (with an SSH server when the host has dropbear)."""
    fs = Initramfs()
    for d in ("dev", "proc", "sys", "run", "tmp", "mnt", "root", "var/www", "etc/udhcpc"):
        fs.dir(d, 0o1777 if d == "tmp" else 0o700 if d == "root" else 0o755)
    # The kernel opens /dev/console for /init before anything is mounted.
    fs.chardev("dev/console", 5, 1)
    fs.chardev("dev/null", 1, 3, 0o666)

    fs.file("bin/busybox", _check_static_busybox(busybox), 0o755)
    for applet in _busybox_applets(busybox):
        if applet != "bin/busybox":
            fs.symlink(applet, "/bin/busybox")
    fs.symlink("bin/sh", "/bin/busybox")  # /init's interpreter, whatever --list-full said

    # Kernel modules: the closure of GUEST_MODULES, in load order, plus a matching
    # modules.dep so `modprobe` works from the console for what is shipped.
    moddir = modules_root / kernel_version
    try:
        dep = parse_modules_dep((moddir / "modules.dep").read_text())
    except OSError as exc:
        raise TinyImageError(
            f"cannot read {moddir}/modules.dep: {exc.strerror}",
            "install the Debian package linux-image-amd64",
        ) from exc
    builtin_file = moddir / "modules.builtin"
    builtin = parse_modules_builtin(builtin_file.read_text()) if builtin_file.is_file() else set()
    order = resolve_modules(modules, dep, builtin)
    shipped: list[str] = []
    dep_lines: list[str] = []
    for path in order:
        plain = _uncompressed_path(path)
        fs.file(f"lib/modules/{kernel_version}/{plain}", _read_module(moddir / path))
        shipped.append(plain)
        deps = " ".join(_uncompressed_path(d) for d in dep[module_name(path)][1])
        dep_lines.append(f"{plain}: {deps}".rstrip())
    fs.file(f"lib/modules/{kernel_version}/modules.dep", "\n".join(sorted(dep_lines)) + "\n")
    fs.file(f"lib/modules/{kernel_version}/labcloud.order", "\n".join(shipped) + "\n")

    # Guest scripts: /init, helpers in /lib/labcloud, and the files they expect in /etc.
    try:
        fs.file("init", (guest_dir / "init").read_bytes(), 0o755)
        fs.file("etc/inittab", (guest_dir / "inittab").read_bytes())
        for script in sorted(guest_dir.glob("*.sh")):
            fs.file(f"lib/labcloud/{script.name}", script.read_bytes(), 0o755)
    except OSError as exc:
        raise TinyImageError(
            f"guest scripts missing from {guest_dir}: {exc}", "reinstall labcloud"
        ) from exc
    fs.symlink("etc/udhcpc/default.script", "/lib/labcloud/udhcpc.sh")
    fs.symlink("usr/share/udhcpc/default.script", "/lib/labcloud/udhcpc.sh")
    # busybox acpid runs ./PWRF/00000080 under /etc/acpi on a power-button press.
    fs.symlink("etc/acpi/PWRF/00000080", "/lib/labcloud/acpi-power.sh")
    fs.file("etc/passwd", _PASSWD)
    fs.file("etc/group", _GROUP)
    fs.file("etc/shadow", _SHADOW, 0o600)
    fs.file("etc/hosts", _HOSTS)
    fs.file("etc/profile", _PROFILE)
    fs.file("etc/os-release", _OS_RELEASE)
    fs.file("etc/hostname", "tiny\n")
    if dropbear is not None:
        add_sshd(fs, dropbear)
    return fs


# --- Output --------------------------------------------------------------------------------


def _atomic_write(dest: Path, write: Callable[[BinaryIO], None], perm: int = 0o644) -> None:
    """Write dest via a temp file in the same directory, fsync'd then renamed over it, so a
    reader (or a crash) never sees half a kernel or ramdisk."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        tmp.chmod(perm)
        tmp.replace(dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(dest.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def build_tiny_image(
    outdir: Path,
    *,
    pvh_kernel: bool = True,
    boot_dir: Path = BOOT_DIR,
    modules_root: Path = MODULES_ROOT,
    busybox: Path = BUSYBOX,
) -> TinyImage:
    """Write outdir/vmlinuz and outdir/initrd.img from the host's kernel and busybox.

    With pvh_kernel (the default) outdir/vmlinuz is the uncompressed vmlinux ELF taken out
    of the host's bzImage, when that is possible: it boots twice as fast under TCG, at the
    cost of a bigger file (~65 MB instead of ~8 MB). Otherwise it is a copy of the bzImage.
    Either way libvirt boots it with <kernel>, <initrd> and <cmdline>.
    """
    kernel_src, version = find_host_kernel(boot_dir, modules_root)
    try:
        kernel_bytes = kernel_src.read_bytes()
    except PermissionError:
        raise TinyImageError(
            f"cannot read {kernel_src}", "run as root, or make the kernel readable"
        ) from None
    if pvh_kernel:
        kernel_bytes = extract_pvh_kernel(kernel_bytes) or kernel_bytes
    fs = build_initramfs(version, modules_root=modules_root, busybox=busybox)

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    kernel = outdir / "vmlinuz"
    ramdisk = outdir / "initrd.img"

    def write_ramdisk(f: BinaryIO) -> None:
        # filename="" and mtime=0 keep the temp name and the clock out of the gzip header.
        with gzip.GzipFile(filename="", mode="wb", fileobj=f, compresslevel=9, mtime=0) as gz:
            fs.write(gz)  # type: ignore[arg-type]  # GzipFile is a binary writer

    _atomic_write(kernel, lambda f: f.write(kernel_bytes))
    _atomic_write(ramdisk, write_ramdisk)
    return TinyImage(kernel=kernel, ramdisk=ramdisk, kernel_version=version)
