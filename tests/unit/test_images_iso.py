"""Install media in the domain: the ISO as a CD-ROM booted first, then the blank disk."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from labcloud.backends.domain_config import build_domain_xml

BASE = {
    "uuid": "3f1c3a8e-1111-4222-8333-944455556666",
    "name": "labcloud-3f1c3a8e-1111-4222-8333-944455556666",
    "vcpus": 1,
    "memory_mib": 128,
    "virt_type": "qemu",
    "console_log": "/state/console.log",
}


def test_per_device_boot_order_replaces_os_boot() -> None:
    spec = dict(BASE)
    spec["disks"] = [
        {"path": "/state/disk", "target": "vda", "boot_order": 2},
        {
            "path": "/images/abc",
            "target": "hdc",
            "bus": "ide",
            "device": "cdrom",
            "file_format": "raw",
            "readonly": True,
            "boot_order": 1,
        },
    ]
    dom = ET.fromstring(build_domain_xml(spec))
    assert dom.find("os/boot") is None  # libvirt refuses both kinds together
    order = {
        d.find("target").get("dev"): d.find("boot").get("order")  # type: ignore[union-attr]
        for d in dom.findall("devices/disk")
    }
    assert order == {"hdc": "1", "vda": "2"}
    cdrom = dom.find("devices/disk[@device='cdrom']")
    assert cdrom is not None and cdrom.find("readonly") is not None


def test_without_boot_order_the_disk_boots_as_before() -> None:
    spec = dict(BASE)
    spec["disks"] = [{"path": "/state/disk", "target": "vda"}]
    dom = ET.fromstring(build_domain_xml(spec))
    boot = dom.find("os/boot")
    assert boot is not None and boot.get("dev") == "hd"
