"""Config objects that emit libvirt domain XML, built with ElementTree only."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

METADATA_NS = "https://labcloud.dev/xmlns/instance/1"
METADATA_PREFIX = "labcloud"


@dataclass(frozen=True)
class DiskConfig:
    path: str
    target: str  # vda, vdb, ... (sda.. for cdroms on the sata bus)
    file_format: str = "qcow2"
    bus: str = "virtio"
    device: str = "disk"  # or cdrom
    source_type: str = "file"  # or block (an LV), or network (path is the export name)
    readonly: bool = False
    serial: str = ""  # shows in the guest as /dev/disk/by-id/virtio-<serial>
    boot_order: int = 0  # 0: no <boot order>; with kernel boot it is ignored
    protocol: str = ""  # a network disk's: nbd
    host: str = ""  # a network disk's server address and port
    port: int = 0

    def element(self) -> ET.Element:
        disk = ET.Element("disk", type=self.source_type, device=self.device)
        driver = {"name": "qemu", "type": self.file_format}
        if self.device == "disk":
            driver["discard"] = "unmap"
        ET.SubElement(disk, "driver", driver)
        if self.source_type == "network":
            source = ET.SubElement(disk, "source", protocol=self.protocol, name=self.path)
            ET.SubElement(source, "host", name=self.host, port=str(self.port))
        else:
            key = "dev" if self.source_type == "block" else "file"
            ET.SubElement(disk, "source", {key: self.path})
        ET.SubElement(disk, "target", dev=self.target, bus=self.bus)
        if self.readonly or self.device == "cdrom":
            ET.SubElement(disk, "readonly")
        if self.serial:
            ET.SubElement(disk, "serial").text = self.serial
        if self.boot_order:
            ET.SubElement(disk, "boot", order=str(self.boot_order))
        return disk


@dataclass(frozen=True)
class InterfaceConfig:
    """A virtio NIC on a Linux bridge; libvirt makes the tap with our name on it."""

    mac: str
    bridge: str
    target_dev: str  # the tap's name: a labcloud prefix plus a short id, <= 15 chars
    mtu: int = 0
    model: str = "virtio"

    def element(self) -> ET.Element:
        nic = ET.Element("interface", type="bridge")
        ET.SubElement(nic, "mac", address=self.mac)
        ET.SubElement(nic, "source", bridge=self.bridge)
        ET.SubElement(nic, "target", dev=self.target_dev)
        ET.SubElement(nic, "model", type=self.model)
        if self.mtu:
            ET.SubElement(nic, "mtu", size=str(self.mtu))
        ET.SubElement(nic, "rom", enabled="no")  # no iPXE ROM: saves about a second of boot
        return nic


@dataclass(frozen=True)
class DomainConfig:
    uuid: str
    name: str
    vcpus: int
    memory_mib: int
    virt_type: str  # kvm or qemu (TCG)
    console_log: str
    disks: tuple[DiskConfig, ...] = ()
    nics: tuple[InterfaceConfig, ...] = ()
    kernel: str | None = None
    initrd: str | None = None
    cmdline: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    def to_element(self) -> ET.Element:
        dom = ET.Element("domain", type=self.virt_type)
        ET.SubElement(dom, "name").text = self.name
        ET.SubElement(dom, "uuid").text = self.uuid
        self._metadata(ET.SubElement(dom, "metadata"))
        ET.SubElement(dom, "memory", unit="MiB").text = str(self.memory_mib)
        ET.SubElement(dom, "vcpu").text = str(self.vcpus)
        self._os(ET.SubElement(dom, "os"))
        features = ET.SubElement(dom, "features")
        ET.SubElement(features, "acpi")  # graceful shutdown and PCI hot-plug need ACPI
        ET.SubElement(features, "apic")
        if self.virt_type == "kvm":
            ET.SubElement(dom, "cpu", mode="host-passthrough")
        ET.SubElement(dom, "clock", offset="utc")
        ET.SubElement(dom, "on_poweroff").text = "destroy"
        ET.SubElement(dom, "on_reboot").text = "restart"
        ET.SubElement(dom, "on_crash").text = "destroy"
        self._devices(ET.SubElement(dom, "devices"))
        return dom

    def to_xml(self) -> str:
        element = self.to_element()
        ET.indent(element)
        return ET.tostring(element, encoding="unicode")

    def _metadata(self, parent: ET.Element) -> None:
        ET.register_namespace(METADATA_PREFIX, METADATA_NS)
        inst = ET.SubElement(parent, f"{{{METADATA_NS}}}instance")
        ET.SubElement(inst, f"{{{METADATA_NS}}}uuid").text = self.uuid
        for key, value in sorted(self.metadata.items()):
            ET.SubElement(inst, f"{{{METADATA_NS}}}{key}").text = value

    def _os(self, os_el: ET.Element) -> None:
        ET.SubElement(os_el, "type", arch="x86_64", machine="pc").text = "hvm"
        if self.kernel:
            ET.SubElement(os_el, "kernel").text = self.kernel
            if self.initrd:
                ET.SubElement(os_el, "initrd").text = self.initrd
            if self.cmdline:
                ET.SubElement(os_el, "cmdline").text = self.cmdline
        elif not any(d.boot_order for d in self.disks):
            # libvirt refuses <os><boot> together with per-device <boot order>.
            ET.SubElement(os_el, "boot", dev="hd")

    def _devices(self, devices: ET.Element) -> None:
        for disk in self.disks:
            devices.append(disk.element())
        for nic in self.nics:
            devices.append(nic.element())
        # A pty for the interactive console, logged to a file by virtlogd.
        serial = ET.SubElement(devices, "serial", type="pty")
        ET.SubElement(serial, "log", file=self.console_log, append="on")
        ET.SubElement(serial, "target", port="0")
        console = ET.SubElement(devices, "console", type="pty")
        ET.SubElement(console, "target", type="serial", port="0")
        ET.SubElement(devices, "memballoon", model="none")
        ET.SubElement(devices, "rng", model="virtio").append(_rng_backend())


def _rng_backend() -> ET.Element:
    backend = ET.Element("backend", model="random")
    backend.text = "/dev/urandom"
    return backend


def metadata_uuid(xml_text: str) -> str | None:
    """The labcloud server UUID in a domain's metadata element, if it has ours."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError:
        return None
    # virDomainGetMetadata returns the element with its namespace stripped; a full
    # domain XML keeps it. Accept both shapes.
    for tag in (f"{{{METADATA_NS}}}uuid", "uuid"):
        found = root.find(tag)
        if found is not None:
            return found.text
    return None


def build_domain_xml(spec: dict[str, object]) -> str:
    """The services' plain-data plan of a server, as libvirt XML."""
    disks = tuple(DiskConfig(**d) for d in spec.get("disks", ()))  # type: ignore[union-attr]
    config = DomainConfig(
        uuid=str(spec["uuid"]),
        name=str(spec["name"]),
        vcpus=int(spec["vcpus"]),  # type: ignore[call-overload]
        memory_mib=int(spec["memory_mib"]),
        virt_type=str(spec["virt_type"]),  # type: ignore[call-overload]
        console_log=str(spec["console_log"]),
        disks=disks,
        nics=tuple(InterfaceConfig(**n) for n in spec.get("nics", ())),  # type: ignore[union-attr]
        kernel=spec.get("kernel"),
        initrd=spec.get("initrd"),  # type: ignore[arg-type]
        cmdline=spec.get("cmdline"),  # type: ignore[arg-type]
        metadata=dict(spec.get("metadata") or {}),  # type: ignore[call-overload]
    )
    return config.to_xml()


def build_device_xml(kind: str, spec: dict[str, object]) -> str:
    """One device's XML for hot-plug: kind is "disk" or "interface"."""
    config: DiskConfig | InterfaceConfig
    if kind == "disk":
        config = DiskConfig(**spec)  # type: ignore[arg-type]
    elif kind == "interface":
        config = InterfaceConfig(**spec)  # type: ignore[arg-type]
    else:
        raise ValueError(f"unknown device kind {kind!r}")
    return ET.tostring(config.element(), encoding="unicode")
