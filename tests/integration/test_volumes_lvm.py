"""The LVM backend against a real volume group on a loop device.

Where the kernel has no device-mapper (as on this project's CI machines), LVM can still
edit its metadata: labcloud then runs every LVM command with activation disabled, so
create, extend, tag checks and remove run for real, and what needs an active LV
(snapshots, copying data in, attaching to a guest) is refused with that reason. The
test that attaches an LVM volume to a guest skips there and runs where device-mapper is.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from labcloud.backends.volume_lvm import LvmVolumes, device_mapper_available

from labcloud.errors import EXIT_CODES, BackendError
from tests.harness import Node
from tests.harness.node import LABCLOUD_BIN, URI

GIB = 1024**3
HAS_DM = device_mapper_available()
NO_DM_REASON = "this kernel has no device-mapper: LVs cannot be activated"


@dataclass
class LvmLab:
    node: Node
    lab_file: Path
    vg: str
    loop_file: Path

    def labcloud(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.node.run([str(LABCLOUD_BIN), "--lab", str(self.lab_file), *args], check=check)

    def loop_device(self) -> str:
        out = self.node.run(
            ["losetup", "--list", "--json", "-O", "NAME", "-j", str(self.loop_file)]
        )
        return str(json.loads(out.stdout or '{"loopdevices": [{}]}')["loopdevices"][0]["name"])

    def lvm(self, tool: str, *args: str, check: bool = True) -> str:
        opts = ["--devices", self.loop_device()]
        if not HAS_DM:
            opts += ["--config", "global { activation = 0 }"]
        return self.node.run([tool, *opts, *args], check=check).stdout

    def lvs(self) -> dict[str, dict[str, str]]:
        out = self.lvm(
            "lvs",
            "--reportformat",
            "json",
            "--units",
            "b",
            "--nosuffix",
            "-o",
            "lv_name,lv_size,lv_tags",
            self.vg,
        )
        rows = json.loads(out)["report"][0]["lv"]
        return {r["lv_name"]: r for r in rows}


@pytest.fixture
def lvm_lab(lab: Node) -> Iterator[LvmLab]:
    # A VG name of this run's own, so nothing collides with the host or another run.
    vg = f"lctest-{uuid.uuid4().hex[:8]}"
    loop_file = lab.workdir / f"{vg}.img"
    lab_file = lab.workdir / f"{vg}.toml"
    lab_file.write_text(
        f'[site]\nstate_dir = {json.dumps(str(lab.state_dir))}\nlibvirt_uri = "{URI}"\n\n'
        '[volume_backends.file]\ntype = "file"\n\n'
        f'[volume_backends.lvm]\ntype = "lvm"\nvg = "{vg}"\n'
        f"loop_file = {json.dumps(str(loop_file))}\nloop_size_gb = 3\n"
    )
    print(f"LVM: VG {vg} on a loop device; device-mapper {'present' if HAS_DM else 'ABSENT'}")
    if not HAS_DM:
        print(f"LVM: {NO_DM_REASON}; metadata operations run with activation disabled")
    made = LvmLab(lab, lab_file, vg, loop_file)
    try:
        yield made
    finally:
        # Remove the VG and detach exactly the loop device this test made, by its path.
        if loop_file.exists():
            out = lab.run(["losetup", "--list", "--json", "-O", "NAME", "-j", str(loop_file)])
            for dev in json.loads(out.stdout or '{"loopdevices": []}')["loopdevices"]:
                opts = ["--devices", dev["name"], "--config", "global { activation = 0 }"]
                lab.run(["vgremove", "-y", *opts, vg], check=False)
                lab.run(["pvremove", "-y", *opts, dev["name"]], check=False)
                lab.run(["losetup", "-d", dev["name"]])
            loop_file.unlink()
        lab_file.unlink(missing_ok=True)


def volume_id(lvm_lab: LvmLab, name: str) -> str:
    out = lvm_lab.labcloud("volume", "show", name, "-f", "value", "-c", "id")
    return out.stdout.strip()


def test_lvm_volumes_are_tagged_lvs_that_grow_and_go(lvm_lab: LvmLab) -> None:
    lvm_lab.labcloud("volume", "create", "lv1", "--type", "lvm", "--size", "1")
    vid = volume_id(lvm_lab, "lv1")
    lv = lvm_lab.lvs()[f"labcloud-volume-{vid}"]
    assert lv["lv_tags"] == f"labcloud-vol-{vid}" and int(lv["lv_size"]) == GIB

    lvm_lab.labcloud("volume", "extend", "lv1", "--size", "2")
    assert int(lvm_lab.lvs()[f"labcloud-volume-{vid}"]["lv_size"]) == 2 * GIB

    # Larger than the VG's free space: one line, and no LV or row made.
    before = lvm_lab.lvs()
    out = lvm_lab.labcloud("volume", "create", "huge", "--type", "lvm", "--size", "50", check=False)
    assert out.returncode == EXIT_CODES["conflict"]
    assert "GiB free; 50 GB asked" in out.stderr and out.stderr.count("\n") == 1
    assert lvm_lab.lvs() == before
    names = lvm_lab.labcloud("volume", "list", "-f", "value", "-c", "Name").stdout.split()
    assert "huge" not in names

    # Someone else's LV in the same VG is never listed, changed or removed.
    lvm_lab.lvm("lvcreate", "-y", "-an", "-Zn", "-L", "8m", "-n", "someone-else", lvm_lab.vg)
    lvm_lab.labcloud("volume", "delete", "lv1")
    assert list(lvm_lab.lvs()) == ["someone-else"]


def test_lvm_backend_refuses_lvs_it_did_not_make(lvm_lab: LvmLab) -> None:
    lvm_lab.labcloud("volume", "type", "list")  # nothing made yet; the VG comes on first use
    lvm_lab.labcloud("volume", "create", "first", "--type", "lvm", "--size", "1")
    fake = str(uuid.uuid4())
    # Named like ours, but without our tag: a look-alike is still not ours.
    lvm_lab.lvm(
        "lvcreate", "-y", "-an", "-Zn", "-L", "8m", "-n", f"labcloud-volume-{fake}", lvm_lab.vg
    )
    lvm_lab.lvm("lvcreate", "-y", "-an", "-Zn", "-L", "8m", "-n", "theirs", lvm_lab.vg)
    backend = LvmVolumes("lvm", lvm_lab.vg, loop_file=lvm_lab.loop_file)
    with pytest.raises(BackendError, match="lacks the tag"):
        backend.delete(f"{lvm_lab.vg}/labcloud-volume-{fake}")
    with pytest.raises(BackendError, match="lacks the tag"):
        backend.extend(f"{lvm_lab.vg}/labcloud-volume-{fake}", 2 * GIB)
    with pytest.raises(BackendError, match="not a labcloud LV"):
        backend.delete(f"{lvm_lab.vg}/theirs")
    assert sorted(backend.owned()) == [
        f"{lvm_lab.vg}/labcloud-volume-{volume_id(lvm_lab, 'first')}"
    ]
    assert {f"labcloud-volume-{fake}", "theirs"} <= set(lvm_lab.lvs())
    lvm_lab.labcloud("volume", "delete", "first")


def test_lvm_snapshot_needs_device_mapper_or_works(lvm_lab: LvmLab) -> None:
    lvm_lab.labcloud("volume", "create", "lv2", "--type", "lvm", "--size", "1")
    try:
        before = lvm_lab.lvs()
        out = lvm_lab.labcloud("volume", "snapshot", "create", "s2", "--volume", "lv2", check=False)
        if HAS_DM:
            assert out.returncode == 0
            sid = lvm_lab.labcloud("volume", "snapshot", "show", "s2", "-f", "value", "-c", "id")
            assert f"labcloud-snap-{sid.stdout.strip()}" in lvm_lab.lvs()
            lvm_lab.labcloud("volume", "snapshot", "delete", "s2")
        else:
            print(f"LVM snapshot refused as expected: {NO_DM_REASON}")
            assert out.returncode == EXIT_CODES["backend"]
            assert "device-mapper" in out.stderr and out.stderr.count("\n") == 1
            snaps = lvm_lab.labcloud("volume", "snapshot", "list", "-f", "value").stdout
            assert "s2" not in snaps
        assert lvm_lab.lvs() == before
    finally:
        lvm_lab.labcloud("volume", "delete", "lv2")


@pytest.mark.skipif(not HAS_DM, reason=NO_DM_REASON)
def test_an_active_lvm_volume_attaches_to_a_guest(lvm_lab: LvmLab) -> None:
    node = lvm_lab.node
    lvm_lab.labcloud("volume", "create", "lvdata", "--type", "lvm", "--size", "1")
    lvm_lab.labcloud("server", "create", "lvmvm", "--image", "tiny", "--flavor", "m1.nano")
    try:
        node.labcloud("console", "log", "lvmvm", "--wait-for", "ready", "--timeout", "120")
        lvm_lab.labcloud("server", "add", "volume", "lvmvm", "lvdata")
        node.labcloud(
            "console",
            "log",
            "lvmvm",
            "--wait-for",
            f"disk-added vdb size {GIB}",
            "--timeout",
            "120",
        )
        lvm_lab.labcloud("server", "remove", "volume", "lvmvm", "lvdata")
        node.labcloud("console", "log", "lvmvm", "--wait-for", "disk-removed", "--timeout", "120")
    finally:
        lvm_lab.labcloud("server", "delete", "lvmvm", check=False)
        lvm_lab.labcloud("volume", "delete", "lvdata", check=False)
