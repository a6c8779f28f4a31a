"""A user's story with Glance-like images: import files in every format, get them back
out, and have unsafe or wrong input refused with nothing half-made."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labcloud.errors import EXIT_CODES
from tests.harness import Node

MARKER = b"labcloud-image-marker-42\n"
# Glance's name for each format -> qemu-img's.
QEMU_NAMES = {"qcow2": "qcow2", "vmdk": "vmdk", "vdi": "vdi", "vhd": "vpc", "vhdx": "vhdx"}


def qemu_img(*args: str) -> str:
    return subprocess.run(["qemu-img", *args], check=True, capture_output=True, text=True).stdout


def image_json(lab: Node, name: str) -> dict[str, object]:
    return dict(json.loads(lab.labcloud("image", "show", name, "-f", "json").stdout))


def image_names(lab: Node) -> list[str]:
    return [r["Name"] for r in json.loads(lab.labcloud("image", "list", "-f", "json").stdout)]


def store_leftovers(lab: Node) -> list[str]:
    return sorted(p.name for p in (lab.state_dir / "images").glob(".*"))


@pytest.fixture(scope="module")
def files(lab: Node, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 32 MiB raw disk with a marker at its start, and the same disk in every format."""
    work = tmp_path_factory.mktemp("formats")
    raw = work / "disk.raw"
    with open(raw, "wb") as fh:
        fh.write(MARKER)
        fh.truncate(32 * 1024 * 1024)
    made = {"raw": raw}
    for glance, qemu in QEMU_NAMES.items():
        made[glance] = work / f"disk.{glance}"
        qemu_img("convert", "-q", "-f", "raw", "-O", qemu, str(raw), str(made[glance]))
    return made


@pytest.fixture
def cleanup(lab: Node) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    for name in reversed(made):
        lab.labcloud("image", "delete", name, check=False)


@pytest.mark.parametrize("fmt", ["raw", "qcow2", "vmdk", "vdi", "vhd", "vhdx"])
def test_every_format_imports_and_saves_back_the_same_disk(
    lab: Node, files: dict[str, Path], cleanup: list[str], tmp_path: Path, fmt: str
) -> None:
    name = f"disk-{fmt}"
    lab.labcloud("image", "create", name, "--file", str(files[fmt]), "--disk-format", fmt)
    cleanup.append(name)
    shown = image_json(lab, name)
    converted = fmt in ("vmdk", "vdi", "vhd", "vhdx")
    assert shown["status"] == "active"
    assert shown["disk_format"] == ("qcow2" if converted else fmt)
    assert shown["file_format"] == ("qcow2" if fmt != "raw" else "raw")
    assert shown["properties"] == ({"original_disk_format": fmt} if converted else {})
    assert shown["virtual_size"] >= 32 * 1024 * 1024
    stored = lab.state_dir / "images" / str(shown["checksum"])
    info = json.loads(qemu_img("info", "--output=json", str(stored)))
    assert "backing-filename" not in info

    out = tmp_path / f"saved.{fmt}"
    lab.labcloud("image", "save", name, "--file", str(out))
    # Same guest-visible bytes as the raw original (vhd may round the size up).
    qemu_img("compare", "-q", str(files["raw"]), str(out))


def test_auto_detects_the_format_not_the_extension(
    lab: Node, files: dict[str, Path], cleanup: list[str], tmp_path: Path
) -> None:
    disguised = tmp_path / "looks-raw.img"
    disguised.write_bytes(files["qcow2"].read_bytes())
    lab.labcloud("image", "create", "disguised", "--file", str(disguised))
    cleanup.append("disguised")
    assert image_json(lab, "disguised")["disk_format"] == "qcow2"


def test_a_qcow2_pointing_at_a_host_file_is_refused(lab: Node, tmp_path: Path) -> None:
    backing = tmp_path / "evil.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-F", "raw", "-b", "/etc/passwd", str(backing))
    data_file = tmp_path / "evil-data.qcow2"
    (tmp_path / "host-secret").write_bytes(b"secret" * 100)
    qemu_img(
        "create", "-q", "-f", "qcow2", "-o", f"data_file={tmp_path / 'host-secret'}",
        str(data_file), "1M",
    )  # fmt: skip
    before = image_names(lab)
    for path, why in ((backing, "backing file (/etc/passwd)"), (data_file, "external data file")):
        refused = lab.labcloud("image", "create", "evil", "--file", str(path), check=False)
        assert refused.returncode == EXIT_CODES["usage"]
        assert why in refused.stderr and refused.stderr.count("\n") == 1
    assert image_names(lab) == before and store_leftovers(lab) == []


def test_bad_input_is_one_line_and_leaves_nothing(
    lab: Node, files: dict[str, Path], tmp_path: Path
) -> None:
    before = image_names(lab)
    raw = str(files["raw"])
    cases = [
        (["x", "--file", raw, "--disk-format", "floppy"], "usage", "unknown disk format"),
        (["x", "--file", raw, "--disk-format", "qcow2"], "usage", "is a raw image, not qcow2"),
        (["x", "--file", raw, "--disk-format", "iso"], "usage", "not iso"),
        (["x", "--file", str(tmp_path / "missing")], "usage", "No such file or directory"),
        (["x", "--file", str(tmp_path)], "usage", "not a regular file"),
        (["tiny", "--file", raw], "conflict", "already exists"),
        (["x", "--file", raw, "--property", "novalue"], "usage", "expected KEY=VALUE"),
        (["x", "--file", raw, "--property", "Bad Key=1"], "usage", "invalid property key"),
        (["x", "--file", raw, "--property", "disk_format=raw"], "usage", "reserved"),
        (["x", "--file", raw, "--disk-format", "ami"], "usage", "needs --kernel-id"),
        (["x", "--file", raw, "--kernel-id", "tiny-ramdisk"], "usage", "not an active aki"),
        (["x", "--file", raw, "--container-format", "ova"], "usage", "unknown container"),
        (["bad name", "--file", raw], "usage", "invalid image name"),
    ]
    for args, code, message in cases:
        refused = lab.labcloud("image", "create", *args, check=False)
        assert refused.returncode == EXIT_CODES[code], (args, refused.stderr)
        assert message in refused.stderr and refused.stderr.count("\n") == 1, refused.stderr
    assert image_names(lab) == before and store_leftovers(lab) == []


def test_set_protect_and_delete(lab: Node, files: dict[str, Path], cleanup: list[str]) -> None:
    lab.labcloud("image", "create", "keepme", "--file", str(files["qcow2"]), "--protected")
    cleanup.append("keepme")
    lab.labcloud("image", "set", "keepme", "--property", "os_distro=tiny,v2", "--min-ram", "64")
    shown = image_json(lab, "keepme")
    assert shown["properties"] == {"os_distro": "tiny,v2"} and shown["min_ram"] == 64
    refused = lab.labcloud("image", "delete", "keepme", check=False)
    assert refused.returncode == EXIT_CODES["conflict"] and "is protected" in refused.stderr
    lab.labcloud("image", "set", "keepme", "--unprotected", "--remove-property", "os_distro")
    lab.labcloud("image", "delete", "keepme")
    assert "keepme" not in image_names(lab)


def test_identical_content_is_stored_once_and_survives_either_delete(
    lab: Node, files: dict[str, Path], cleanup: list[str]
) -> None:
    lab.labcloud("image", "create", "twin-a", "--file", str(files["qcow2"]))
    lab.labcloud("image", "create", "twin-b", "--file", str(files["vdi"]))  # converted
    cleanup.extend(["twin-a", "twin-b"])
    a, b = image_json(lab, "twin-a"), image_json(lab, "twin-b")
    lab.labcloud("image", "delete", "twin-a")
    if a["checksum"] == b["checksum"]:  # qemu-img wrote identical qcow2 bytes
        assert (lab.state_dir / "images" / str(b["checksum"])).exists()
    lab.labcloud("image", "delete", "twin-b")
    assert not (lab.state_dir / "images" / str(b["checksum"])).exists()


@pytest.mark.parametrize("step", ["write", "publish"])
def test_an_import_killed_midway_leaves_nothing(
    lab: Node, files: dict[str, Path], step: str
) -> None:
    killed = lab.run(
        ["labcloud", "image", "create", "killed", "--file", str(files["raw"])],
        env={"LABCLOUD_FAULT_KILL_AT": f"image.import:{step}"},
        check=False,
    )
    assert killed.returncode == -9
    # The next labcloud command rolls the interrupted import back.
    assert "killed" not in image_names(lab)
    assert store_leftovers(lab) == []
    checksum = qemu_img_sha256(files["raw"])
    assert not (lab.state_dir / "images" / checksum).exists()


def test_ctrl_c_during_an_import_leaves_nothing(lab: Node, tmp_path: Path) -> None:
    big = tmp_path / "big.raw"
    with open(big, "wb") as fh:
        fh.truncate(2 * 1024**3)  # sparse: cheap to make, seconds to hash
    proc = lab.popen(
        ["labcloud", "image", "create", "interrupted", "--file", str(big)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Interrupt once the copy is under way: its temporary file is in the store.
        while not list((lab.state_dir / "images").glob(".import-*")):
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.01)  # a polling interval, not a wait for something to happen
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "interrupted" in err
    assert "interrupted" not in image_names(lab)
    assert store_leftovers(lab) == []


def qemu_img_sha256(path: Path) -> str:
    return subprocess.run(
        ["sha256sum", str(path)], check=True, capture_output=True, text=True
    ).stdout.split()[0]


def test_a_full_disk_fails_the_import_cleanly(lab: Node, files: dict[str, Path]) -> None:
    """The store on a 16 MiB tmpfs (in the node's own mount namespace): ENOSPC mid-copy."""
    small = lab.workdir / "small-state"
    small.mkdir()
    lab.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(small)])
    try:
        lab_file = lab.workdir / "small-lab.toml"
        lab_file.write_text(f'[site]\nstate_dir = "{small}"\nlibvirt_uri = "qemu:///system"\n')
        env = {"LABCLOUD_LAB": str(lab_file)}
        lab.run(["labcloud", "init"], env=env)
        full = lab.run(
            ["labcloud", "image", "create", "big", "--file", str(files["raw"])],
            env=env,
            check=False,
        )
        assert full.returncode == EXIT_CODES["backend"]
        assert "No space left on device" in full.stderr and full.stderr.count("\n") == 1
        listed = lab.run(["labcloud", "image", "list", "-f", "value", "-c", "Name"], env=env)
        assert listed.stdout.strip() == ""
        # The tmpfs is only visible inside the node: look from there.
        assert lab.run(["ls", "-A", str(small / "images")]).stdout == ""
    finally:
        lab.run(["umount", str(small)], check=False)
