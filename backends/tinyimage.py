"""Build the built-in "tiny" guest image, like CirrOS: the host kernel (aki) plus a busybox
ramdisk (ari), booted by direct kernel boot.

The ramdisk is a gzip'd newc cpio written here in pure Python, so no cpio binary and no root
are needed (device nodes are plain header fields), and the output is byte-for-byte
reproducible for the same host packages: fixed inode numbers, uids, mtimes and gzip header.

The guest's behaviour lives in the shell scripts of ``labcloud.backends.guest`` (package
data); the console lines they print are matched by the ``*_PATTERN`` constants below.
"""

from __future__ import annotations

import gzip
import os
import re
import struct
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from labcloud.backends.cpio import CpioEntry, Initramfs, read_newc, write_newc
from labcloud.backends.guest_sshd import DROPBEAR, add_sshd
from labcloud.backends.host_kernel import (
    BOOT_DIR,
    MODULES_ROOT,
    TinyImageError,
    elf_has_interpreter,
    extract_pvh_kernel,
    find_host_kernel,
    module_name,
    parse_modules_builtin,
    parse_modules_dep,
    read_module,
    resolve_modules,
    uncompressed_path,
)

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


# --- The result (TinyImageError, its error, is in host_kernel.py) ------------------------


@dataclass(frozen=True)
class TinyImage:
    kernel: Path  # the host kernel (aki): its vmlinux ELF for PVH boot, or a copy of it
    ramdisk: Path  # gzip'd newc cpio initramfs (ari)
    kernel_version: str


# --- Host inputs ---------------------------------------------------------------------------

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
        plain = uncompressed_path(path)
        fs.file(f"lib/modules/{kernel_version}/{plain}", read_module(moddir / path))
        shipped.append(plain)
        deps = " ".join(uncompressed_path(d) for d in dep[module_name(path)][1])
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
