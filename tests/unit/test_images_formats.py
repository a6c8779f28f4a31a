"""Format decisions on inspection facts: what a file is, whether it is safe, how it is stored."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from labcloud.backends import image_store

from labcloud.errors import UsageError
from labcloud.services.images import detect, plan_import


def qemu_facts(fmt: str, **specific: object) -> dict[str, object]:
    qemu = {"format": fmt, "virtual-size": 1 << 20, "filename": "/x"}
    if specific:
        qemu["format-specific"] = {"type": fmt, "data": specific}
    return {"size": 1 << 20, "sniff": {"iso9660": False}, "qemu": qemu}


def test_auto_takes_the_detected_format_and_converts_foreign_ones() -> None:
    plan = plan_import("auto", None, qemu_facts("vpc"), "disk.vhd")
    assert (plan.disk_format, plan.file_format, plan.convert) == ("qcow2", "qcow2", True)
    assert plan.properties == {"original_disk_format": "vhd"}
    raw = plan_import("auto", None, qemu_facts("raw"), "disk.img")
    assert (raw.disk_format, raw.container_format, raw.convert) == ("raw", "bare", False)


def test_a_declared_format_that_does_not_match_is_refused() -> None:
    with pytest.raises(UsageError, match="is a raw image, not qcow2"):
        plan_import("qcow2", None, qemu_facts("raw"), "disk.qcow2")
    with pytest.raises(UsageError, match="unknown disk format"):
        plan_import("floppy", None, qemu_facts("raw"), "x")


def test_iso_is_told_apart_from_raw_by_its_signature() -> None:
    facts = qemu_facts("raw")
    facts["sniff"] = {"iso9660": True}
    assert detect(facts, "x").disk_format == "iso"
    assert plan_import("raw", None, facts, "x").disk_format == "raw"  # hybrid media
    with pytest.raises(UsageError, match="not iso"):
        plan_import("iso", None, qemu_facts("raw"), "x")


def test_kernel_formats_need_their_own_container_format() -> None:
    assert plan_import("aki", None, qemu_facts("raw"), "k").container_format == "aki"
    with pytest.raises(UsageError, match="needs container format aki"):
        plan_import("aki", "bare", qemu_facts("raw"), "k")
    with pytest.raises(UsageError, match="needs container format bare"):
        plan_import("qcow2", "ami", qemu_facts("qcow2"), "k")


@pytest.mark.parametrize(
    ("facts", "message"),
    [
        ({"sniff": {"backing_file": "/etc/shadow"}, "qemu": None}, "backing file"),
        ({"sniff": {"data_file": True}, "qemu": None}, "external data file"),
        ({"sniff": {"vmdk_descriptor": True, "vmdk_extents": ["/dev/sda"]}}, "/dev/sda"),
        (qemu_facts("vmdk", **{"create-type": "monolithicFlat"}), "monolithicFlat"),
        (qemu_facts("qcow2", corrupt=True), "corrupt"),
        (qemu_facts("qcow2", encrypt={"format": "luks"}), "encrypted"),
        (qemu_facts("qcow"), "does not accept"),
    ],
)
def test_unsafe_or_unsupported_files_are_refused(facts: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        plan_import("auto", None, facts, "upload")


def test_sniffing_finds_a_backing_file_without_running_qemu_img(tmp_path: Path) -> None:
    evil = tmp_path / "evil.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", "/etc/passwd", str(evil)],
        check=True,
    )
    facts = image_store.inspect(str(evil))
    assert facts["sniff"]["backing_file"] == "/etc/passwd"
    assert facts["qemu"] is None  # never opened by qemu-img
    with pytest.raises(UsageError, match=r"backing file \(/etc/passwd\)"):
        detect(facts, str(evil))


def test_a_text_vmdk_descriptor_is_refused_by_its_extents(tmp_path: Path) -> None:
    desc = tmp_path / "x.vmdk"
    desc.write_text(
        '# Disk DescriptorFile\nversion=1\ncreateType="monolithicFlat"\n'
        'RW 2048 FLAT "/etc/shadow" 0\n'
    )
    with pytest.raises(UsageError, match="/etc/shadow"):
        detect(image_store.inspect(str(desc)), "x.vmdk")


def test_missing_and_unreadable_files_are_one_line_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="No such file"):
        image_store.inspect(str(tmp_path / "nope"))
    with pytest.raises(UsageError, match="not a regular file"):
        image_store.inspect(str(tmp_path))
