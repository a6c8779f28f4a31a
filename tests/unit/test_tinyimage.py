"""The tiny image builder's logic, without booting: the cpio writer, module resolution, kernel
discovery, reproducible output, and the guest's shell parsing run under busybox ash."""

from __future__ import annotations

import gzip
import hashlib
import lzma
import os
import shutil
import stat
import struct
import subprocess
from pathlib import Path

import pytest
from labcloud.backends import tinyimage as ti

from labcloud.errors import LabError

BUSYBOX = shutil.which("busybox") or "/usr/bin/busybox"
GUEST = Path(ti.__file__).with_name("guest")


def static_busybox() -> Path:
    path = Path(BUSYBOX)
    if not path.is_file() or ti.elf_has_interpreter(path.read_bytes()):
        pytest.skip("needs a static busybox (Debian package busybox-static)")
    return path


# --- newc cpio ---------------------------------------------------------------------------


def sample_tree() -> ti.Initramfs:
    fs = ti.Initramfs()
    fs.file("bin/hello", "#!/bin/sh\necho hi\n", 0o755)
    fs.file("etc/odd-size", b"x" * 5)  # forces data padding
    fs.file("empty", b"")
    fs.symlink("bin/sh", "/bin/busybox")
    fs.chardev("dev/console", 5, 1)
    fs.dir("tmp", 0o1777)
    return fs


def test_newc_round_trip_and_layout(tmp_path: Path) -> None:
    fs = sample_tree()
    out = tmp_path / "a.cpio"
    with out.open("wb") as f:
        fs.write(f)
    data = out.read_bytes()

    assert len(data) % 4 == 0
    assert data.startswith(b"070701")
    assert b"TRAILER!!!\0" in data[-140:]
    entries = {e.path: e for e in ti.read_newc(data)}
    # Parents are added, and each comes before its children.
    order = [e.path for e in ti.read_newc(data)]
    assert order.index("bin") < order.index("bin/hello")
    assert order.index("dev") < order.index("dev/console")
    assert set(entries) == {
        "bin", "bin/hello", "bin/sh", "dev", "dev/console", "empty", "etc", "etc/odd-size", "tmp",
    }  # fmt: skip
    assert entries["bin/hello"].data == b"#!/bin/sh\necho hi\n"
    assert stat.S_IMODE(entries["bin/hello"].mode) == 0o755
    assert stat.S_ISLNK(entries["bin/sh"].mode) and entries["bin/sh"].data == b"/bin/busybox"
    assert stat.S_ISCHR(entries["dev/console"].mode) and entries["dev/console"].rdev == (5, 1)
    assert stat.S_ISDIR(entries["tmp"].mode) and stat.S_IMODE(entries["tmp"].mode) == 0o1777
    assert entries["etc/odd-size"].data == b"xxxxx"
    assert all(e.uid == 0 and e.gid == 0 and e.mtime == 0 for e in entries.values())


def test_busybox_cpio_reads_what_we_write(tmp_path: Path) -> None:
    static_busybox()
    archive = tmp_path / "a.cpio"
    with archive.open("wb") as f:
        sample_tree().write(f)
    listing = subprocess.run(
        [BUSYBOX, "cpio", "-tv"], input=archive.read_bytes(), capture_output=True
    )
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.decode().splitlines()
    assert any(line.startswith("crw-------") and line.endswith("dev/console") for line in lines)
    assert any(line.startswith("-rwxr-xr-x") and line.endswith("bin/hello") for line in lines)
    assert any(line.endswith("bin/sh -> /bin/busybox") for line in lines)

    # Extract everything but the device node (mknod needs root) and compare.
    dest = tmp_path / "x"
    dest.mkdir()
    fs = sample_tree()
    del fs.entries["dev/console"]
    with archive.open("wb") as f:
        fs.write(f)
    subprocess.run(
        [BUSYBOX, "cpio", "-id"],
        input=archive.read_bytes(),
        cwd=dest,
        check=True,
        capture_output=True,
    )
    assert (dest / "bin/hello").read_text() == "#!/bin/sh\necho hi\n"
    assert os.readlink(dest / "bin/sh") == "/bin/busybox"
    assert (dest / "empty").read_bytes() == b""


def test_initramfs_rejects_escaping_paths() -> None:
    fs = ti.Initramfs()
    with pytest.raises(ValueError):
        fs.file("../etc/passwd", "x")
    with pytest.raises(ValueError):
        fs.file("/", "x")


# --- kernel modules ----------------------------------------------------------------------

FAKE_DEP = """\
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko \
kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/net/core/failover.ko:
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko \
kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/char/hw_random/virtio-rng.ko.xz: kernel/drivers/virtio/virtio.ko \
kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/unrelated.ko:
""".replace("\\\n", "")


def test_parse_modules_dep_names() -> None:
    dep = ti.parse_modules_dep(FAKE_DEP)
    assert dep["virtio_rng"][0] == "kernel/drivers/char/hw_random/virtio-rng.ko.xz"
    assert dep["virtio_pci"][1] == (
        "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
        "kernel/drivers/virtio/virtio.ko",
        "kernel/drivers/virtio/virtio_ring.ko",
    )
    assert ti.module_name("a/b/crc64-rocksoft.ko") == "crc64_rocksoft"


def test_resolve_modules_orders_dependencies_first() -> None:
    dep = ti.parse_modules_dep(FAKE_DEP)
    order = ti.resolve_modules(["virtio_net", "virtio-rng", "virtio_pci"], dep)
    names = [ti.module_name(p) for p in order]
    assert sorted(names) == sorted(
        ["virtio_ring", "virtio", "failover", "net_failover", "virtio_net", "virtio_rng",
         "virtio_pci_modern_dev", "virtio_pci"]
    )  # fmt: skip
    assert len(names) == len(set(names)), "each module once"
    for name in names:  # every module comes after everything it depends on
        for dep_path in dep[name][1]:
            assert names.index(ti.module_name(dep_path)) < names.index(name)
    assert "unrelated" not in names


def test_resolve_modules_skips_builtin_and_rejects_missing() -> None:
    dep = ti.parse_modules_dep(FAKE_DEP)
    assert ti.resolve_modules(["isofs"], dep, builtin=["isofs"]) == []
    with pytest.raises(ti.TinyImageError, match="isofs"):
        ti.resolve_modules(["isofs"], dep)
    broken = ti.parse_modules_dep("kernel/a.ko: kernel/missing.ko\n")
    with pytest.raises(ti.TinyImageError, match="missing"):
        ti.resolve_modules(["a"], broken)


def test_real_host_modules_resolve() -> None:
    try:
        _kernel, version = ti.find_host_kernel()
    except ti.TinyImageError:
        pytest.skip("no host kernel with modules")
    moddir = ti.MODULES_ROOT / version
    dep = ti.parse_modules_dep((moddir / "modules.dep").read_text())
    builtin = ti.parse_modules_builtin((moddir / "modules.builtin").read_text())
    names = [ti.module_name(p) for p in ti.resolve_modules(ti.GUEST_MODULES, dep, builtin)]
    for needed in ("virtio_pci", "virtio_net", "virtio_blk", "isofs", "sr_mod", "ata_piix"):
        assert needed in names or needed in builtin
    if "virtio_net" in names and "virtio" in names:
        assert names.index("virtio") < names.index("virtio_net")


# --- host kernel -------------------------------------------------------------------------


def fake_host(root: Path, versions: dict[str, bool]) -> tuple[Path, Path]:
    """A /boot and /lib/modules with vmlinuz-<ver>, with modules where the flag says so."""
    boot, mods = root / "boot", root / "modules"
    boot.mkdir(parents=True)
    mods.mkdir(parents=True)
    for version, has_modules in versions.items():
        (boot / f"vmlinuz-{version}").write_bytes(b"kernel " + version.encode())
        if has_modules:
            (mods / version).mkdir()
            (mods / version / "modules.dep").write_text(FAKE_DEP)
    return boot, mods


def test_find_host_kernel_newest_with_modules(tmp_path: Path) -> None:
    boot, mods = fake_host(
        tmp_path, {"6.1.0-9-amd64": True, "6.1.0-10-amd64": True, "6.12.0-1-amd64": False}
    )
    kernel, version = ti.find_host_kernel(boot, mods)
    assert version == "6.1.0-10-amd64"  # numerically newest, not "9" > "1" as strings
    assert kernel == boot / "vmlinuz-6.1.0-10-amd64"


def test_find_host_kernel_says_what_to_install(tmp_path: Path) -> None:
    boot, mods = fake_host(tmp_path, {"6.1.0-9-amd64": False})
    with pytest.raises(ti.TinyImageError) as err:
        ti.find_host_kernel(boot, mods)
    assert "linux-image-amd64" in str(err.value)
    assert "\n" not in str(err.value)
    assert isinstance(err.value, RuntimeError) and isinstance(err.value, LabError)


def test_dynamic_busybox_is_refused(tmp_path: Path) -> None:
    dynamic = Path("/bin/ls")
    if not ti.elf_has_interpreter(dynamic.read_bytes()):
        pytest.skip("/bin/ls is static here")
    with pytest.raises(ti.TinyImageError, match="busybox-static"):
        ti.build_initramfs("6.1.0-9-amd64", modules_root=tmp_path, busybox=dynamic)
    with pytest.raises(ti.TinyImageError, match="busybox-static"):
        ti.build_initramfs("6.1.0-9-amd64", modules_root=tmp_path, busybox=tmp_path / "none")


# --- PVH kernel extraction -----------------------------------------------------------------


def fake_vmlinux(pvh: bool) -> bytes:
    """A minimal ELF64 with one PT_NOTE segment holding Xen notes."""

    def note(name: bytes, n_type: int, desc: bytes) -> bytes:
        name += b"\0"
        pad = lambda b: b + b"\0" * (-len(b) % 4)  # noqa: E731
        return struct.pack("<III", len(name), len(desc), n_type) + pad(name) + pad(desc)

    notes = note(b"Xen", 6, b"linux\0") + (note(b"Xen", 18, b"\0\0\0\x01") if pvh else b"")
    phoff, phentsize = 64, 56
    note_off = phoff + phentsize
    header = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    header += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0x1000000, phoff, 0, 0, 64, phentsize, 1,
                          64, 0, 0)  # fmt: skip
    phdr = struct.pack("<IIQQQQQQ", 4, 4, note_off, 0, 0, len(notes), len(notes), 4)
    return header + phdr + notes


def fake_bzimage(payload: bytes) -> bytes:
    setup_sects = 3
    setup = bytearray((setup_sects + 1) * 512)
    setup[0x1F1] = setup_sects
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, 0x20F)
    struct.pack_into("<II", setup, 0x248, 0x40, len(payload))
    # The payload sits inside the protected-mode part, after some decompressor code; the
    # kernel appends the uncompressed size after the stream.
    return bytes(setup) + b"\x90" * 0x40 + payload + struct.pack("<I", 1234)


def test_extract_pvh_kernel() -> None:
    elf = fake_vmlinux(pvh=True)
    assert ti.extract_pvh_kernel(fake_bzimage(lzma.compress(elf))) == elf
    assert ti.extract_pvh_kernel(fake_bzimage(gzip.compress(elf))) == elf
    assert ti.extract_pvh_kernel(fake_bzimage(lzma.compress(fake_vmlinux(pvh=False)))) is None
    assert ti.extract_pvh_kernel(fake_bzimage(b"\x28\xb5\x2f\xfd zstd")) is None
    assert ti.extract_pvh_kernel(b"not a kernel" * 100) is None


# --- the whole build ---------------------------------------------------------------------


def fake_modules_host(root: Path) -> tuple[Path, Path]:
    boot, mods = fake_host(root, {"6.1.0-9-amd64": True})
    moddir = mods / "6.1.0-9-amd64"
    dep = ti.parse_modules_dep(FAKE_DEP)
    for path, _deps in dep.values():
        target = moddir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        body = f"module {ti.module_name(path)}".encode()
        target.write_bytes(lzma.compress(body) if path.endswith(".xz") else body)
    # Everything else the builder asks for counts as built in.
    (moddir / "modules.builtin").write_text(
        "".join(f"kernel/x/{name}.ko\n" for name in ti.GUEST_MODULES if name not in dep)
    )
    return boot, mods


def test_build_initramfs_layout(tmp_path: Path) -> None:
    busybox = static_busybox()
    _boot, mods = fake_modules_host(tmp_path)
    fs = ti.build_initramfs(
        "6.1.0-9-amd64", modules_root=mods, busybox=busybox,
        modules=("virtio_net", "virtio_rng", "isofs"),
    )  # fmt: skip
    e = fs.entries
    assert stat.S_IMODE(e["init"].mode) == 0o755
    assert e["init"].data == (GUEST / "init").read_bytes()
    assert e["dev/console"].rdev == (5, 1) and stat.S_ISCHR(e["dev/console"].mode)
    assert e["bin/busybox"].data == busybox.read_bytes()
    assert e["bin/sh"].data == b"/bin/busybox" and e["sbin/udhcpc"].data == b"/bin/busybox"
    assert stat.S_IMODE(e["lib/labcloud/watch.sh"].mode) == 0o755
    base = "lib/modules/6.1.0-9-amd64/"
    order = e[base + "labcloud.order"].data.decode().split()
    assert order == [
        "kernel/drivers/virtio/virtio_ring.ko",
        "kernel/drivers/virtio/virtio.ko",
        "kernel/net/core/failover.ko",
        "kernel/drivers/net/net_failover.ko",
        "kernel/drivers/net/virtio_net.ko",
        "kernel/drivers/char/hw_random/virtio-rng.ko",  # decompressed, for busybox insmod
    ]
    assert e[base + "kernel/drivers/char/hw_random/virtio-rng.ko"].data == b"module virtio_rng"
    assert "kernel/drivers/unrelated.ko" not in e[base + "modules.dep"].data.decode()


def test_build_tiny_image_is_reproducible_and_atomic(tmp_path: Path) -> None:
    busybox = static_busybox()
    boot, mods = fake_modules_host(tmp_path / "host")
    built = []
    for name in ("one", "two"):
        image = ti.build_tiny_image(tmp_path / name, boot_dir=boot, modules_root=mods,
                                    busybox=busybox)  # fmt: skip
        built.append(image)
        assert image.kernel == tmp_path / name / "vmlinuz"
        assert image.ramdisk == tmp_path / name / "initrd.img"
        assert image.kernel_version == "6.1.0-9-amd64"
        assert sorted(p.name for p in (tmp_path / name).iterdir()) == ["initrd.img", "vmlinuz"]
    digest = [hashlib.sha256(i.ramdisk.read_bytes()).hexdigest() for i in built]
    assert digest[0] == digest[1]
    raw = built[0].ramdisk.read_bytes()
    assert raw[:2] == b"\x1f\x8b" and raw[4:8] == b"\0\0\0\0"  # gzip mtime 0
    assert raw[3] & 0x08 == 0  # no file name in the gzip header
    # Not a bzImage: the kernel is copied as it is.
    assert built[0].kernel.read_bytes() == b"kernel 6.1.0-9-amd64"
    entries = {e.path: e for e in ti.read_newc(gzip.decompress(raw))}
    assert "init" in entries and "bin/busybox" in entries


# --- console patterns ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "kind", "groups"),
    [
        ("labcloud-tiny: boot 6.1.0-56-amd64\r", "boot", {"version": "6.1.0-56-amd64"}),
        ("labcloud-tiny: hostname web1", "hostname", {"hostname": "web1"}),
        (
            "labcloud-tiny: nic eth0 mac 52:54:00:12:34:56 ip 10.0.2.15/24",
            "nic",
            {"ifname": "eth0", "mac": "52:54:00:12:34:56", "ip": "10.0.2.15/24"},
        ),
        (
            "labcloud-tiny: nic eth2 mac 52:54:00:12:34:58 ip none",
            "nic",
            {"ifname": "eth2", "mac": "52:54:00:12:34:58", "ip": "none"},
        ),
        ("labcloud-tiny: disk vda size 1073741824", "disk", {"name": "vda", "size": "1073741824"}),
        ("labcloud-tiny: ready (up 3.21 s)", "ready", {"uptime": "3.21"}),
        ("labcloud-tiny: disk-added vdb size 5", "disk_added", {"name": "vdb", "size": "5"}),
        ("labcloud-tiny: disk-removed vdb", "disk_removed", {"name": "vdb"}),
        ("labcloud-tiny: disk-resized vdb size 9", "disk_resized", {"name": "vdb", "size": "9"}),
        (
            "labcloud-tiny: nic-added eth1 mac 52:54:00:12:34:57",
            "nic_added",
            {"ifname": "eth1", "mac": "52:54:00:12:34:57"},
        ),
        ("labcloud-tiny: nic-removed eth1", "nic_removed", {"ifname": "eth1"}),
        ("labcloud-tiny: cloud-init hostname h1", "cloudinit_hostname", {"hostname": "h1"}),
        ("labcloud-tiny: cloud-init ssh-keys 2", "cloudinit_keys", {"count": "2"}),
        ("labcloud-tiny: cloud-init user-data ran exit 0", "cloudinit_userdata", {"rc": "0"}),
        ("labcloud-tiny: shutdown", "shutdown", {}),
    ],
)
def test_console_lines(line: str, kind: str, groups: dict[str, str]) -> None:
    assert ti.parse_console_line(line) == (kind, groups)


def test_console_noise_is_ignored() -> None:
    assert ti.parse_console_line("[    1.2] virtio_net virtio0 eth0: link up") is None
    assert ti.parse_console_line("labcloud-tiny: warning: cannot load x.ko") is None


# --- the guest's shell, run by busybox ash on the host --------------------------------------


@pytest.fixture
def ash(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run a snippet under busybox ash with only busybox applets on PATH, as in the guest."""
    busybox = static_busybox()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for applet in ("awk", "cat", "cut", "grep", "head", "tr", "wc", "sed", "sh"):
        (bindir / applet).symlink_to(busybox)

    def run(script: str) -> str:
        result = subprocess.run(
            [str(busybox), "ash", "-c", script],
            capture_output=True, text=True, env={"PATH": str(bindir)}, cwd=tmp_path, timeout=30,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout

    return run


def test_guest_scripts_parse(ash) -> None:  # type: ignore[no-untyped-def]
    for script in [GUEST / "init", *sorted(GUEST.glob("*.sh"))]:
        assert script.read_text().startswith("#!/bin/sh\n"), script
        ash(f"sh -n '{script}'")
    lines = (GUEST / "inittab").read_text().splitlines()
    assert any(line.startswith("ttyS0::respawn:") for line in lines)


def test_cloud_init_parsing(ash, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "meta-data").write_text(
        "instance-id: iid-1\nlocal-hostname: 'web-1.example.org'\n"
        "public-keys:\n  - ssh-rsa AAAA md@key\n"
    )
    (tmp_path / "user-data").write_text(
        "#cloud-config\nhostname: from_ud!\nssh_authorized_keys:\n"
        '  - ssh-ed25519 AAAA one@x\n  - "ssh-rsa BBBB two@x"\n'
        "users:\n  - name: root\n    ssh_authorized_keys:\n    - ssh-ed25519 CCCC three@x\n"
        "packages: [curl]\n"
    )
    lib = GUEST / "cloud-init.sh"
    out = ash(
        f". '{lib}'; ci_value local-hostname meta-data; ci_value hostname user-data;"
        " ci_value nothing meta-data; echo ---; ci_keys meta-data user-data; echo ---;"
        " ci_clean_hostname 'bad name;$(x)'"
    )
    values, keys, clean = out.split("---\n")
    assert values.splitlines() == ["web-1.example.org", "from_ud!"]
    assert keys.splitlines() == [
        "ssh-rsa AAAA md@key",
        "ssh-ed25519 AAAA one@x",
        "ssh-rsa BBBB two@x",
        "ssh-ed25519 CCCC three@x",
    ]
    assert clean.strip() == "badnamex"
