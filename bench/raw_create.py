"""The baseline for `labcloud server create --wait`: the same disk and libvirt calls, bare.

`create NAME ...` makes a qcow2 overlay on the image's file with qemu-img, defines a
domain with the same devices labcloud gives a server (direct kernel boot, virtio
disk, pty serial logged to a file, console, no balloon, virtio rng) and starts it.
No database, no journal, no checks: what a hand-written script would do.
`delete NAME --dir D` undoes it (not timed).

Runs inside a harness node with the venv's python, by path; imports only libvirt.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt

URI = "qemu:///system"


def domain_xml(a: argparse.Namespace, dom_uuid: str, disk: Path, log: Path) -> str:
    dom = ET.Element("domain", type=a.virt_type)
    ET.SubElement(dom, "name").text = a.name
    ET.SubElement(dom, "uuid").text = dom_uuid
    ET.SubElement(dom, "memory", unit="MiB").text = str(a.memory)
    ET.SubElement(dom, "vcpu").text = "1"
    os_el = ET.SubElement(dom, "os")
    ET.SubElement(os_el, "type", arch="x86_64", machine="pc").text = "hvm"
    ET.SubElement(os_el, "kernel").text = a.kernel
    ET.SubElement(os_el, "initrd").text = a.initrd
    ET.SubElement(os_el, "cmdline").text = a.cmdline
    features = ET.SubElement(dom, "features")
    ET.SubElement(features, "acpi")
    ET.SubElement(features, "apic")
    ET.SubElement(dom, "clock", offset="utc")
    ET.SubElement(dom, "on_poweroff").text = "destroy"
    ET.SubElement(dom, "on_reboot").text = "restart"
    ET.SubElement(dom, "on_crash").text = "destroy"
    devices = ET.SubElement(dom, "devices")
    d = ET.SubElement(devices, "disk", type="file", device="disk")
    ET.SubElement(d, "driver", name="qemu", type="qcow2", discard="unmap")
    ET.SubElement(d, "source", file=str(disk))
    ET.SubElement(d, "target", dev="vda", bus="virtio")
    serial = ET.SubElement(devices, "serial", type="pty")
    ET.SubElement(serial, "log", file=str(log), append="on")
    ET.SubElement(serial, "target", port="0")
    console = ET.SubElement(devices, "console", type="pty")
    ET.SubElement(console, "target", type="serial", port="0")
    ET.SubElement(devices, "memballoon", model="none")
    rng = ET.SubElement(devices, "rng", model="virtio")
    ET.SubElement(rng, "backend", model="random").text = "/dev/urandom"
    return ET.tostring(dom, encoding="unicode")


def create(a: argparse.Namespace) -> None:
    inst = Path(a.dir) / a.name
    inst.mkdir(parents=True, exist_ok=True)
    disk = inst / "disk"
    subprocess.run(
        [
            *("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2"),
            *("-b", a.backing, "--", str(disk), str(a.size)),
        ],
        check=True,
    )
    conn = libvirt.open(URI)
    dom = conn.defineXML(domain_xml(a, str(uuid.uuid4()), disk, inst / "console.log"))
    dom.create()
    conn.close()


def delete(a: argparse.Namespace) -> None:
    conn = libvirt.open(URI)
    try:
        dom = conn.lookupByName(a.name)
    except libvirt.libvirtError:
        dom = None
    if dom is not None:
        if dom.isActive():
            dom.destroy()
        dom.undefine()
    conn.close()
    shutil.rmtree(Path(a.dir) / a.name, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    sub = p.add_subparsers(dest="action", required=True)
    c = sub.add_parser("create")
    c.add_argument("name")
    c.add_argument("--dir", required=True, help="instances go in DIR/NAME")
    c.add_argument("--backing", required=True, help="the image's qcow2 file")
    c.add_argument("--size", type=int, default=1024**3)
    c.add_argument("--kernel", required=True)
    c.add_argument("--initrd", required=True)
    c.add_argument("--cmdline", required=True)
    c.add_argument("--memory", type=int, default=128, help="MiB")
    c.add_argument("--virt-type", default="qemu")
    d = sub.add_parser("delete")
    d.add_argument("name")
    d.add_argument("--dir", required=True)
    a = p.parse_args()
    if a.action == "create":
        create(a)
    else:
        delete(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
