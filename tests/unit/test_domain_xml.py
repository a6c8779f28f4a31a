"""Domain XML comes from config objects and ElementTree: hostile text stays text."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from labcloud.backends.domain_config import (
    METADATA_NS,
    DiskConfig,
    DomainConfig,
    build_device_xml,
    build_domain_xml,
    metadata_uuid,
)

UUID = "0b7c6a5e-1f7e-4a43-9d7e-2a9c1d3e4f50"


def _config(**over: object) -> DomainConfig:
    base: dict[str, object] = dict(
        uuid=UUID,
        name=f"labcloud-{UUID}",
        vcpus=2,
        memory_mib=256,
        virt_type="qemu",
        console_log="/state/instances/x/console.log",
        disks=(DiskConfig(path="/state/instances/x/disk", target="vda"),),
        kernel="/images/k",
        initrd="/images/r",
        cmdline="console=ttyS0",
        metadata={"name": "web1"},
    )
    base.update(over)
    return DomainConfig(**base)  # type: ignore[arg-type]


def test_domain_carries_prefix_uuid_and_labcloud_metadata() -> None:
    root = ET.fromstring(_config().to_xml())
    assert root.get("type") == "qemu"
    assert root.findtext("name") == f"labcloud-{UUID}"
    assert root.findtext("uuid") == UUID
    inst = root.find(f"metadata/{{{METADATA_NS}}}instance")
    assert inst is not None
    assert inst.findtext(f"{{{METADATA_NS}}}uuid") == UUID
    assert metadata_uuid(ET.tostring(inst, encoding="unicode")) == UUID


def test_direct_kernel_boot_virtio_disk_and_logged_serial() -> None:
    root = ET.fromstring(_config().to_xml())
    assert root.findtext("os/kernel") == "/images/k"
    assert root.findtext("os/initrd") == "/images/r"
    disk = root.find("devices/disk")
    assert disk is not None
    assert disk.find("target").get("bus") == "virtio"  # type: ignore[union-attr]
    assert disk.find("driver").get("type") == "qcow2"  # type: ignore[union-attr]
    log = root.find("devices/serial/log")
    assert log is not None and log.get("file") == "/state/instances/x/console.log"


def test_metacharacters_in_values_cannot_inject_elements() -> None:
    evil = "</name><devices><disk/></devices><name>"
    root = ET.fromstring(_config(metadata={"name": evil}, cmdline="a & b <c>").to_xml())
    assert root.find(f"metadata/{{{METADATA_NS}}}instance/{{{METADATA_NS}}}name").text == evil  # type: ignore[union-attr]
    assert root.findtext("os/cmdline") == "a & b <c>"
    assert len(root.findall("devices/disk")) == 1


def test_kvm_gets_host_cpu_and_the_plain_spec_builds_the_same_xml() -> None:
    assert ET.fromstring(_config(virt_type="kvm").to_xml()).find("cpu") is not None
    spec = {
        "uuid": UUID,
        "name": f"labcloud-{UUID}",
        "vcpus": 1,
        "memory_mib": 128,
        "virt_type": "qemu",
        "console_log": "/c.log",
        "disks": [{"path": "/d", "target": "vda"}],
        "metadata": {"name": "n"},
    }
    root = ET.fromstring(build_domain_xml(spec))
    assert root.findtext("memory") == "128"
    assert root.find("os/boot").get("dev") == "hd"  # type: ignore[union-attr]


def test_an_exported_volume_is_a_network_disk_on_its_nbd_export() -> None:
    spec = {
        "path": "volume-0b7c3f0e-8d1e-4f7a-9c55-3f1a2b4c5d6e",
        "target": "vdb",
        "file_format": "raw",
        "source_type": "network",
        "protocol": "nbd",
        "host": "10.99.0.1",
        "port": 10809,
        "serial": "0b7c3f0e-8d1e-4f7a-9",
    }
    disk = ET.fromstring(build_device_xml("disk", spec))
    assert (disk.get("type"), disk.get("device")) == ("network", "disk")
    source = disk.find("source")
    assert source is not None and source.get("file") is None
    assert (source.get("protocol"), source.get("name")) == ("nbd", spec["path"])
    host = source.find("host")
    assert host is not None and (host.get("name"), host.get("port")) == ("10.99.0.1", "10809")
    assert disk.find("driver").get("type") == "raw"  # type: ignore[union-attr]
    assert disk.find("target").get("dev") == "vdb"  # type: ignore[union-attr]
