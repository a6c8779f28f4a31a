"""Images that boot: a machine image imported from a VMDK and booted with the tiny
kernel and ramdisk, given a key and a script through its cloud-init seed; a snapshot of
it taken while it runs, which boots with the data written before; and an install ISO
that boots from its CD-ROM onto a blank root disk."""

from __future__ import annotations

import io
import json
import re
import shlex
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pycdlib
from labcloud.backends.cloud_init_seed import read_seed

from labcloud.errors import EXIT_CODES
from tests.harness import Node
from tests.integration.cli_helpers import console, show

MARKER = "labcloud-image-marker-42"
SNAP_MARKER = "snapshot-marker-7"
CMDLINE = "os_command_line=console=ttyS0,115200 quiet"

# Written to the root disk at 1 MiB by the first server, read back by the snapshot's.
WRITE_SCRIPT = f"""#!/bin/sh
echo "vda says: $(head -c {len(MARKER)} /dev/vda)"
echo "authorized: $(cut -d' ' -f1,2 /root/.ssh/authorized_keys)"
printf '{SNAP_MARKER}' | dd of=/dev/vda bs=1M seek=1 conv=notrunc 2>/dev/null
sync
"""
READ_SCRIPT = f"""#!/bin/sh
echo "snapshot says: $(dd if=/dev/vda bs=1M skip=1 count=1 2>/dev/null | head -c {len(SNAP_MARKER)})"
"""  # noqa: E501


def test_seeded_ami_from_vmdk_and_a_live_snapshot_that_boots(
    lab: Node, tmp_path: Path, made: list[tuple[str, str]]
) -> None:
    raw, vmdk = tmp_path / "disk.raw", tmp_path / "disk.vmdk"
    with open(raw, "wb") as fh:
        fh.write(MARKER.encode())
        fh.truncate(16 * 1024 * 1024)
    subprocess.run(["qemu-img", "convert", "-q", "-O", "vmdk", str(raw), str(vmdk)], check=True)
    lab.labcloud(
        "image", "create", "vm-ami", "--file", str(vmdk), "--disk-format", "ami",
        "--kernel-id", "tiny-kernel", "--ramdisk-id", "tiny-ramdisk", "--property", CMDLINE,
    )  # fmt: skip
    made.append(("image", "vm-ami"))
    assert show(lab, "image", "vm-ami")["properties"] == {
        "original_disk_format": "vmdk",
        "os_command_line": "console=ttyS0,115200 quiet",
    }

    lab.labcloud("keypair", "create", "story-key", "--private-key", str(tmp_path / "id"))
    made.append(("keypair", "story-key"))
    public = str(show(lab, "keypair", "story-key")["public_key"])
    (tmp_path / "write.sh").write_text(WRITE_SCRIPT)
    lab.labcloud(
        "server", "create", "seeded", "--image", "vm-ami", "--flavor", "m1.nano",
        "--key-name", "story-key", "--user-data", str(tmp_path / "write.sh"), "--wait",
    )  # fmt: skip
    made.append(("server", "seeded"))
    log = console(lab, "seeded")
    assert "labcloud-tiny: cloud-init hostname seeded" in log
    assert "labcloud-tiny: cloud-init ssh-keys 1" in log
    assert f"vda says: {MARKER}" in log  # the converted VMDK's bytes are the root disk
    assert f"authorized: {' '.join(public.split()[:2])}" in log
    assert "labcloud-tiny: cloud-init user-data ran exit 0" in log

    refused = lab.labcloud("image", "delete", "vm-ami", check=False)
    assert refused.returncode == EXIT_CODES["conflict"]
    assert "in use by server(s) seeded" in refused.stderr

    lab.labcloud("server", "image", "create", "seeded", "--name", "seeded-snap")
    made.append(("image", "seeded-snap"))
    assert show(lab, "server", "seeded")["status"] == "ACTIVE"  # resumed after the copy
    snap = show(lab, "image", "seeded-snap")
    ami = show(lab, "image", "vm-ami")
    assert (snap["disk_format"], snap["kernel_id"], snap["ramdisk_id"]) == (
        "ami",
        ami["kernel_id"],
        ami["ramdisk_id"],
    )
    assert snap["properties"]["os_command_line"] == "console=ttyS0,115200 quiet"  # type: ignore[index]
    stored = lab.state_dir / "images" / str(snap["checksum"])
    info = json.loads(subprocess.run(
        ["qemu-img", "info", "--output=json", str(stored)], check=True, capture_output=True
    ).stdout)  # fmt: skip
    assert "backing-filename" not in info  # self-contained

    (tmp_path / "read.sh").write_text(READ_SCRIPT)
    lab.labcloud(
        "server", "create", "restored", "--image", "seeded-snap", "--flavor", "m1.nano",
        "--user-data", str(tmp_path / "read.sh"), "--wait",
    )  # fmt: skip
    made.append(("server", "restored"))
    log = console(lab, "restored")
    assert f"snapshot says: {SNAP_MARKER}" in log
    assert "labcloud-tiny: cloud-init hostname restored" in log

    # A snapshot killed midway is rolled back by the next command; the server is free.
    killed = lab.run(
        ["labcloud", "server", "image", "create", "restored", "--name", "killed-snap"],
        env={"LABCLOUD_FAULT_KILL_AT": "image.snapshot:copy"},
        check=False,
    )
    assert killed.returncode == -9
    listed = lab.labcloud("image", "list", "-f", "value", "-c", "Name").stdout.split()
    assert "killed-snap" not in listed
    after = show(lab, "server", "restored")
    assert (after["status"], after["task_state"]) == ("ACTIVE", None)
    assert not list((lab.state_dir / "images").glob(".*"))

    # A stopped server snapshots too.
    lab.labcloud("server", "stop", "restored", "--timeout", "30")
    lab.labcloud("server", "image", "create", "restored", "--name", "stopped-snap")
    made.append(("image", "stopped-snap"))
    assert show(lab, "image", "stopped-snap")["status"] == "active"
    assert show(lab, "server", "restored")["status"] == "SHUTOFF"


# A no-emulation El Torito boot image: 16-bit code that prints a line on COM1 and halts.
# It finds its own address with call/pop, so it works whatever CS:IP the BIOS uses.
_BOOT_CODE = bytes.fromhex(
    "fa 0e 1f fc"  # cli; push cs; pop ds; cld
    " e8 00 00 5e"  # call next; next: pop si
    " 83 c6 12"  # add si, msg - next
    " ba f8 03"  # mov dx, 0x3f8 (COM1)
    " ac 84 c0 74 03 ee eb f8"  # loop: lodsb; test al,al; jz done; out dx,al; jmp loop
    " f4 eb fd"  # done: hlt; jmp done
)
ISO_LINE = "labcloud-iso: booted from cdrom"


def bootable_iso(path: Path) -> None:
    boot = (_BOOT_CODE + ISO_LINE.encode() + b"\r\n\0").ljust(2048, b"\0")
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=1, vol_ident="LABCLOUD_TEST")
    iso.add_fp(io.BytesIO(boot), len(boot), "/BOOT.IMG;1")
    iso.add_eltorito("/BOOT.IMG;1", bootcatfile="/BOOT.CAT;1", media_name="noemul")
    iso.write(str(path))
    iso.close()


def test_an_iso_boots_from_its_cdrom_onto_a_blank_root_disk(
    lab: Node, tmp_path: Path, made: list[tuple[str, str]]
) -> None:
    bootable_iso(tmp_path / "install.img")  # no .iso extension: detected by content
    lab.labcloud("image", "create", "install", "--file", str(tmp_path / "install.img"))
    made.append(("image", "install"))
    assert show(lab, "image", "install")["disk_format"] == "iso"

    out = lab.labcloud(
        "server", "create", "installer", "--image", "install", "--flavor", "m1.nano",
        "--wait", "-f", "json",
    ).stdout  # fmt: skip
    created = json.loads(out)
    made.append(("server", "installer"))
    assert console(lab, "installer", ISO_LINE)

    dom = ET.fromstring(lab.virsh("dumpxml", f"labcloud-{created['id']}").stdout)
    assert dom.find("os/boot") is None and dom.find("os/kernel") is None
    disks = {
        d.find("target").get("dev"): d  # type: ignore[union-attr]
        for d in dom.findall("devices/disk")
    }
    cdrom, root = disks["hdc"], disks["vda"]
    assert cdrom.get("device") == "cdrom" and cdrom.find("readonly") is not None
    assert cdrom.find("boot").get("order") == "1"  # type: ignore[union-attr]
    assert root.find("boot").get("order") == "2"  # type: ignore[union-attr]
    root_file = root.find("source").get("file")  # type: ignore[union-attr]
    info = json.loads(lab.run(["qemu-img", "info", "-U", "--output=json", root_file]).stdout)
    assert info["virtual-size"] == 1024**3 and "backing-filename" not in info  # blank, flavor


def test_the_seed_matches_each_nic_by_mac_and_ssh_targets_the_address(
    lab: Node, made: list[tuple[str, str]]
) -> None:
    lab.labcloud("network", "create", "seed-net")
    made.append(("network", "seed-net"))
    lab.labcloud("subnet", "create", "seed-sub", "--network", "seed-net", "--subnet-range",
                 "10.77.0.0/24")  # fmt: skip
    made.append(("subnet", "seed-sub"))
    lab.labcloud("keypair", "create", "net-key")
    made.append(("keypair", "net-key"))
    out = lab.labcloud(
        "server", "create", "netseed", "--image", "tiny", "--flavor", "m1.nano",
        "--network", "seed-net", "--key-name", "net-key", "--wait", "-f", "json",
    ).stdout  # fmt: skip
    made.append(("server", "netseed"))
    server_id = json.loads(out)["id"]
    log = console(lab, "netseed")
    nic = re.search(r"labcloud-tiny: nic eth0 mac (\S+) ip (\d+\.\d+\.\d+\.\d+)/24", log)
    assert nic is not None, log
    mac, ip = nic.groups()

    label, files = read_seed(str(lab.state_dir / "instances" / server_id / "seed.iso"))
    assert label == "cidata"
    assert f'macaddress: "{mac}"' in files["network-config"].decode()

    printed = lab.labcloud("server", "ssh", "--print", "-l", "cirros", "netseed", "--", "uptime")
    argv = shlex.split(printed.stdout)
    assert argv[0] == "ssh" and argv[-3:] == ["--", ip, "uptime"]
    assert f"HostKeyAlias=labcloud-{server_id}" in argv and "cirros" in argv
