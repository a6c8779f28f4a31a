"""Boot the built-in tiny image for real: QEMU under TCG, direct kernel boot, in a network
namespace of its own with slirp restricted (DHCP answers, no packet leaves). The tests read
the serial console as a user would, and drive the guest through the QEMU monitor the way
libvirt would: ACPI power button, PCI hot-plug of disks and NICs."""

from __future__ import annotations

import io
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from labcloud.backends import tinyimage as ti

from tests.harness.requirements import require_root_and_tools

pytestmark = pytest.mark.integration

QEMU = "qemu-system-x86_64"
READY_TIMEOUT = 60.0  # TCG on a loaded CI machine; a quiet one takes 3-8 s
EVENT_TIMEOUT = 30.0
QEMU_MAC0 = "52:54:00:12:34:56"  # QEMU's default MAC for the first NIC


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> ti.TinyImage:
    require_root_and_tools()  # module fixtures run before the autouse check
    try:
        return ti.build_tiny_image(tmp_path_factory.mktemp("tiny"))
    except ti.TinyImageError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(str(exc))


def blank_disk(path: Path, size: str) -> Path:
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), size], check=True)
    return path


class Guest:
    """One QEMU, serial console on a pipe (stdin types into the guest's shell), human
    monitor on a unix socket. Only the process started here is ever killed."""

    def __init__(self, image: ti.TinyImage, hostname: str, args: list[str]) -> None:
        self.rundir = Path(tempfile.mkdtemp(prefix="tiny-"))  # short: unix socket paths
        self.monitor_path = self.rundir / "mon.sock"
        cmdline = f"{ti.KERNEL_CMDLINE_BASE} labcloud.hostname={hostname}"
        argv = [
            "unshare", "--net", "--",
            QEMU, "-accel", "tcg", "-m", "256", "-nodefaults", "-nographic",
            "-serial", "stdio", "-monitor", f"unix:{self.monitor_path},server=on,wait=off",
            "-kernel", str(image.kernel), "-initrd", str(image.ramdisk), "-append", cmdline,
            *args,
        ]  # fmt: skip
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self._text = ""
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        while chunk := os.read(self.proc.stdout.fileno(), 65536):
            with self._lock:
                self._text += chunk.decode(errors="replace").replace("\r", "")

    @property
    def console(self) -> str:
        with self._lock:
            return self._text

    def wait_for(self, pattern: str, timeout: float = EVENT_TIMEOUT) -> re.Match[str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = regex.search(self.console)
            if m:
                return m
            if self.proc.poll() is not None or time.monotonic() > deadline:
                state = "QEMU exited" if self.proc.poll() is not None else f"{timeout:.0f} s"
                raise AssertionError(
                    f"no {pattern!r} on the console ({state}); console:\n{self.console}"
                )
            time.sleep(0.05)

    def type(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def monitor(self, command: str) -> str:
        """One HMP command; returns its output."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(EVENT_TIMEOUT)
            sock.connect(str(self.monitor_path))
            out = b""
            while not out.endswith(b"(qemu) "):
                out += sock.recv(4096)
            sock.sendall(command.encode() + b"\n")
            out = b""
            while not out.endswith(b"(qemu) "):
                out += sock.recv(4096)
        return out.decode(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        shutil.rmtree(self.rundir, ignore_errors=True)


@pytest.fixture
def boot(image: ti.TinyImage) -> Iterator[type[Guest]]:
    guests: list[Guest] = []

    class _Guest(Guest):
        def __init__(self, hostname: str, args: list[str]) -> None:
            super().__init__(image, hostname, args)
            guests.append(self)

    yield _Guest  # type: ignore[misc]
    for guest in guests:
        guest.close()


def nic(index: int, net: str | None = None) -> list[str]:
    """A virtio NIC on slirp: DHCP answers, restrict=on drops everything else (and the
    namespace has no way out anyway). No option ROM: direct kernel boot needs no iPXE."""
    netdev = f"user,id=n{index},restrict=on" + (f",net={net}" if net else "")
    return ["-netdev", netdev, "-device", f"virtio-net-pci,netdev=n{index},romfile="]


def test_boot_to_ready_console_shell_and_acpi_poweroff(
    boot: type[Guest], image: ti.TinyImage, tmp_path: Path, record_property
) -> None:  # type: ignore[no-untyped-def]
    disk = blank_disk(tmp_path / "root.qcow2", "1G")
    guest = boot("tiny-it1", [*nic(0), "-drive", f"file={disk},if=virtio"])

    ready = guest.wait_for(ti.READY_UPTIME_PATTERN, READY_TIMEOUT)
    wall = time.monotonic() - guest.started
    uptime = float(ready["uptime"])
    record_property("ready_uptime_s", uptime)
    record_property("ready_wall_s", round(wall, 2))
    print(f"tiny image ready: guest uptime {uptime:.2f} s, wall {wall:.2f} s under TCG")

    console = guest.console
    assert guest.wait_for(ti.BOOT_PATTERN)["version"] == image.kernel_version
    assert guest.wait_for(ti.HOSTNAME_PATTERN)["hostname"] == "tiny-it1"
    nic0 = guest.wait_for(ti.NIC_PATTERN)
    assert (nic0["ifname"], nic0["mac"], nic0["ip"]) == ("eth0", QEMU_MAC0, "10.0.2.15/24")
    assert "labcloud-tiny: disk vda size 1073741824" in console
    order = [console.index(s) for s in ("boot ", "hostname ", "nic eth0", "disk vda", "ready")]
    assert order == sorted(order), console
    assert "warning" not in console

    # The serial console is a usable root shell, and the guest serves HTTP naming itself.
    guest.wait_for(r"tiny-it1:~# ")
    guest.type("echo $((6*7))-answer; wget -qO- http://127.0.0.1/hostname\n")
    guest.wait_for(r"42-answer\ntiny-it1\n")

    # The ACPI power button (what `virsh shutdown` presses) powers off cleanly.
    guest.monitor("system_powerdown")
    guest.wait_for(ti.SHUTDOWN_PATTERN)
    assert guest.proc.wait(timeout=EVENT_TIMEOUT) == 0


def test_nocloud_seed_and_several_nics(boot: type[Guest], tmp_path: Path) -> None:
    pycdlib = pytest.importorskip("pycdlib")
    seed = tmp_path / "seed.iso"
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident="cidata")
    files = {
        "meta-data": b"instance-id: iid-it2\nlocal-hostname: seeded\n"
        b"public-keys:\n  - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITEST it@labcloud\n",
        "user-data": b'#!/bin/sh\necho "user-data-output on $(hostname)"\n',
    }
    for name, data in files.items():
        iso_name = "/" + name.replace("-", "").upper() + ".;1"
        iso.add_fp(io.BytesIO(data), len(data), iso_name, rr_name=name, joliet_path="/" + name)
    iso.write(str(seed))
    iso.close()

    disk = blank_disk(tmp_path / "root.qcow2", "1G")
    guest = boot(
        "from-cmdline",
        [
            *nic(0),
            *nic(1, "10.9.0.0/24"),
            # A NIC on an empty hub: no DHCP server, so "ip none" after ~3 s.
            "-netdev", "hubport,id=n2,hubid=7", "-device", "virtio-net-pci,netdev=n2,romfile=",
            "-drive", f"file={disk},if=virtio",
            # The cidata CD-ROM on IDE, as libvirt's bus='ide' on the "pc" machine gives it.
            "-drive", f"file={seed},media=cdrom,if=ide,readonly=on",
        ],
    )  # fmt: skip
    guest.wait_for(ti.READY_PATTERN, READY_TIMEOUT)

    assert guest.wait_for(ti.CLOUDINIT_HOSTNAME_PATTERN)["hostname"] == "seeded"
    assert guest.wait_for(ti.HOSTNAME_PATTERN)["hostname"] == "seeded"  # seed beats cmdline
    assert guest.wait_for(ti.CLOUDINIT_KEYS_PATTERN)["count"] == "1"
    guest.wait_for(r"user-data-output on seeded")
    assert guest.wait_for(ti.CLOUDINIT_USERDATA_PATTERN)["rc"] == "0"
    ips = {m["ifname"]: m["ip"] for m in re.finditer(ti.NIC_PATTERN, guest.console)}
    assert ips == {"eth0": "10.0.2.15/24", "eth1": "10.9.0.15/24", "eth2": "none"}
    disks = {m["name"]: int(m["size"]) for m in re.finditer(ti.DISK_PATTERN, guest.console)}
    assert disks["vda"] == 1 << 30
    assert disks["sr0"] == seed.stat().st_size

    guest.wait_for(r"seeded:~# ")
    guest.type("cat /root/.ssh/authorized_keys\n")
    guest.wait_for(r"\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITEST it@labcloud\n")


def test_hotplug_disks_and_nics_are_reported(boot: type[Guest], tmp_path: Path) -> None:
    disk = blank_disk(tmp_path / "root.qcow2", "1G")
    extra = blank_disk(tmp_path / "vol.qcow2", "512M")
    guest = boot("tiny-it3", [*nic(0), "-drive", f"file={disk},if=virtio"])
    guest.wait_for(ti.READY_PATTERN, READY_TIMEOUT)

    guest.monitor(f"drive_add 0 if=none,id=vol1,file={extra}")
    guest.monitor("device_add virtio-blk-pci,drive=vol1,id=vol1dev")
    added = guest.wait_for(ti.DISK_ADDED_PATTERN)
    assert (added["name"], int(added["size"])) == ("vdb", 512 << 20)

    guest.monitor("block_resize vol1 1G")
    resized = guest.wait_for(ti.DISK_RESIZED_PATTERN)
    assert (resized["name"], int(resized["size"])) == ("vdb", 1 << 30)

    guest.monitor("device_del vol1dev")
    assert guest.wait_for(ti.DISK_REMOVED_PATTERN)["name"] == "vdb"

    guest.monitor("netdev_add user,id=n5,restrict=on,net=10.7.0.0/24")
    guest.monitor("device_add virtio-net-pci,netdev=n5,id=nic5,romfile=")
    assert guest.wait_for(ti.NIC_ADDED_PATTERN)["ifname"] == "eth1"
    assert guest.wait_for(ti.NIC_PATTERN.replace("(?P<ifname>\\S+)", "eth1"))["ip"] == (
        "10.7.0.15/24"
    )

    guest.monitor("device_del nic5")
    assert guest.wait_for(ti.NIC_REMOVED_PATTERN)["ifname"] == "eth1"
