"""What an image file is, whether it is safe, and how it is stored: pure decisions.

The facts come from the node agent's inspection (sniffed headers and `qemu-img info`);
nothing here trusts a file name or extension.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labcloud.errors import UsageError

DISK_FORMATS = ("qcow2", "raw", "iso", "vmdk", "vdi", "vhd", "vhdx", "aki", "ari", "ami")
CONTAINER_FORMATS = ("bare", "aki", "ari", "ami")
KERNEL_FORMATS = ("aki", "ari", "ami")  # Amazon's: the container format names the same kind
# qemu-img's driver names -> Glance's disk format names.
FROM_QEMU = {"raw": "raw", "qcow2": "qcow2", "vmdk": "vmdk", "vdi": "vdi", "vpc": "vhd"}
FROM_QEMU["vhdx"] = "vhdx"
TO_QEMU = {v: k for k, v in FROM_QEMU.items()}
# Stored as qcow2: QEMU runs them poorly or not at all, and the store stays two formats.
CONVERTED = ("vmdk", "vdi", "vhd", "vhdx")
# The VMDK kinds that are one self-contained file (Glance's allow-list).
VMDK_SINGLE_FILE = ("monolithicSparse", "streamOptimized")


@dataclass(frozen=True)
class Detected:
    disk_format: str  # Glance's name: raw, iso, qcow2, vmdk, vdi, vhd, vhdx
    qemu_format: str  # qemu-img's driver for reading it
    virtual_size: int


@dataclass(frozen=True)
class ImportPlan:
    disk_format: str  # what the image is recorded as
    container_format: str
    source: Detected
    convert: bool  # to qcow2, on the way into the store
    file_format: str  # qemu's format of the stored file

    @property
    def properties(self) -> dict[str, str]:
        """Glance-like record of a conversion: the format the user uploaded."""
        if not self.convert:
            return {}
        return {"original_disk_format": self.source.disk_format}


def detect(facts: dict[str, Any], what: str) -> Detected:
    """The file's real format, or a one-line refusal when it is unsafe or unsupported."""
    check_safe(facts, what)
    qemu = facts["qemu"]
    qfmt = str(qemu.get("format", ""))
    if qfmt not in FROM_QEMU:
        raise UsageError(
            f"{what} is in format {qfmt or 'unknown'}, which labcloud does not accept",
            f"accepted: {', '.join(DISK_FORMATS)}",
        )
    disk_format = FROM_QEMU[qfmt]
    if disk_format == "raw" and facts["sniff"].get("iso9660"):
        disk_format = "iso"
    return Detected(disk_format, qfmt, int(qemu.get("virtual-size") or 0))


def check_safe(facts: dict[str, Any], what: str) -> None:
    """Refuse a file that makes QEMU read other files: a qcow2 backing file or data file
    (the host-file-read hole), a VMDK whose extents are other files, a corrupt qcow2."""
    sniffed = facts.get("sniff") or {}
    qemu = facts.get("qemu") or {}
    specific = (qemu.get("format-specific") or {}).get("data") or {}
    backing = sniffed.get("backing_file") or qemu.get("backing-filename")
    if backing:
        raise UsageError(
            f"{what} is a qcow2 with a backing file ({backing}); refused",
            "only self-contained images are accepted: `qemu-img convert` it first",
        )
    if sniffed.get("data_file") or specific.get("data-file"):
        raise UsageError(
            f"{what} is a qcow2 with an external data file; refused",
            "only self-contained images are accepted: `qemu-img convert` it first",
        )
    if sniffed.get("vmdk_descriptor"):
        extents = ", ".join(sniffed.get("vmdk_extents") or []) or "other files"
        raise UsageError(
            f"{what} is a VMDK descriptor whose data is in {extents}; refused",
            "use a single-file VMDK (monolithicSparse or streamOptimized)",
        )
    if qemu.get("format") == "vmdk":
        kind = specific.get("create-type", "")
        if kind not in VMDK_SINGLE_FILE:
            raise UsageError(
                f"{what} is a VMDK of type {kind or 'unknown'}; refused",
                "use a single-file VMDK (monolithicSparse or streamOptimized)",
            )
        own = qemu.get("filename")
        for extent in specific.get("extents") or []:
            if extent.get("filename") != own:
                raise UsageError(f"{what} is a VMDK with an extent in another file; refused")
    if qemu.get("encrypted") or specific.get("encrypt"):
        raise UsageError(f"{what} is encrypted; refused", "labcloud has no key to boot it with")
    if specific.get("corrupt"):
        raise UsageError(f"{what} is a corrupt qcow2", "run `qemu-img check -r all` on it")


def plan_import(
    declared: str, container: str | None, facts: dict[str, Any], what: str
) -> ImportPlan:
    """Match the declared formats against the file; decide conversion."""
    check_formats(declared, container)
    found = detect(facts, what)
    disk_format = found.disk_format if declared == "auto" else declared
    if not _matches(disk_format, found.disk_format):
        raise UsageError(
            f"{what} is {_article(found.disk_format)} image, not {disk_format}",
            f"use --disk-format {found.disk_format} or auto",
        )
    if container is None:
        container = disk_format if disk_format in KERNEL_FORMATS else "bare"
    if (disk_format in KERNEL_FORMATS or container in KERNEL_FORMATS) and container != disk_format:
        raise UsageError(
            f"disk format {disk_format} needs container format "
            f"{disk_format if disk_format in KERNEL_FORMATS else 'bare'}, not {container}",
            "aki, ari and ami go with the container format of the same name",
        )
    convert = found.disk_format in CONVERTED
    if convert and disk_format in CONVERTED:
        disk_format = "qcow2"  # recorded as what is stored; the original is a property
    file_format = "qcow2" if convert else found.qemu_format
    return ImportPlan(disk_format, container, found, convert, file_format)


def check_formats(declared: str, container: str | None) -> None:
    if declared != "auto" and declared not in DISK_FORMATS:
        raise UsageError(
            f"unknown disk format {declared!r}", f"use auto or one of {', '.join(DISK_FORMATS)}"
        )
    if container is not None and container not in CONTAINER_FORMATS:
        raise UsageError(
            f"unknown container format {container!r}",
            f"use one of {', '.join(CONTAINER_FORMATS)}",
        )


def _matches(declared: str, found: str) -> bool:
    if declared == found:
        return True
    if declared == "raw":
        return found == "iso"  # an ISO is a raw image (hybrid install media)
    if declared in ("aki", "ari"):
        return found == "raw"  # a kernel or an initrd: raw bytes
    if declared == "ami":
        return found not in ("iso",)  # a machine disk: raw or qcow2 (others converted)
    return False


def _article(fmt: str) -> str:
    return f"an {fmt}" if fmt[0] in "aeiou" else f"a {fmt}"
