"""Volumes on the file backend with real guests: attach and detach live, the tiny
guest's console reporting each disk, a live extend, snapshots and clones, boot from
volume, and bad input that leaves nothing half-made."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from labcloud.errors import EXIT_CODES
from tests.harness import Node

READY = "labcloud-tiny: ready"
GIB = 1024**3


def volume(lab: Node, name: str) -> dict[str, object]:
    return dict(json.loads(lab.labcloud("volume", "show", name, "-f", "json").stdout))


def volume_names(lab: Node) -> list[str]:
    return sorted(lab.labcloud("volume", "list", "-f", "value", "-c", "Name").stdout.split())


def volume_files(lab: Node) -> list[str]:
    path = lab.state_dir / "volumes" / "file"
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


def wait_console(lab: Node, server: str, pattern: str) -> str:
    out = lab.labcloud("console", "log", server, "--wait-for", pattern, "--timeout", "120")
    return out.stdout


def refused(lab: Node, code: str, *argv: str) -> str:
    out = lab.labcloud(*argv, check=False)
    assert out.returncode == EXIT_CODES[code], (argv, out.returncode, out.stderr)
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr
    return out.stderr


@pytest.fixture
def two_servers(lab: Node) -> Iterator[tuple[str, str]]:
    for name in ("vs1", "vs2"):
        lab.labcloud("server", "create", name, "--image", "tiny", "--flavor", "m1.nano")
    for name in ("vs1", "vs2"):
        wait_console(lab, name, READY)
    yield "vs1", "vs2"
    lab.labcloud("server", "delete", "vs1", "vs2", check=False)


def test_attach_live_extend_detach_and_reattach_elsewhere(
    lab: Node, two_servers: tuple[str, str]
) -> None:
    vs1, vs2 = two_servers
    lab.labcloud("volume", "create", "data1", "--size", "1")
    try:
        assert volume(lab, "data1")["status"] == "available"

        shown = json.loads(
            lab.labcloud("server", "add", "volume", vs1, "data1", "-f", "json").stdout
        )
        assert shown["status"] == "in-use" and shown["device"] == "/dev/vdb"
        assert shown["attachments"] == f"Attached to {vs1} on /dev/vdb"
        wait_console(lab, vs1, f"disk-added vdb size {GIB}")
        # libvirt sees the volume's serial, so the guest and the host can match it.
        xml = lab.virsh("dumpxml", f"labcloud-{lab_server_id(lab, vs1)}").stdout
        assert f"<serial>{str(shown['id'])[:20]}</serial>" in xml

        # One server at a time, and never deleted while attached.
        assert "in-use on server vs1" in refused(
            lab, "conflict", "server", "add", "volume", vs2, "data1"
        )
        assert "detach it first" in refused(lab, "conflict", "volume", "delete", "data1")

        lab.labcloud("volume", "extend", "data1", "--size", "2")
        wait_console(lab, vs1, f"disk-resized vdb size {2 * GIB}")
        assert volume(lab, "data1")["size"] == 2

        lab.labcloud("server", "remove", "volume", vs1, "data1")
        wait_console(lab, vs1, "disk-removed vdb")
        assert volume(lab, "data1")["status"] == "available"

        # --device is libvirt's target; the guest names disks in the order they appear
        # (as with Nova), so here the disk shows as its first free name, vdb.
        lab.labcloud("server", "add", "volume", vs2, "data1", "--device", "vdc")
        assert volume(lab, "data1")["attachments"] == f"Attached to {vs2} on /dev/vdc"
        wait_console(lab, vs2, f"disk-added vdb size {2 * GIB}")
        lab.labcloud("server", "remove", "volume", vs2, "data1")
        wait_console(lab, vs2, "disk-removed vdb")
    finally:
        lab.labcloud("volume", "delete", "data1", check=False)
    assert "data1" not in volume_names(lab)


def lab_server_id(lab: Node, name: str) -> str:
    return str(json.loads(lab.labcloud("server", "show", name, "-f", "json").stdout)["id"])


def test_snapshot_clone_and_a_volume_from_an_image(lab: Node) -> None:
    before = volume_files(lab)
    lab.labcloud("volume", "create", "orig", "--size", "1")
    lab.labcloud("volume", "snapshot", "create", "orig-snap", "--volume", "orig")
    snaps = lab.labcloud("volume", "snapshot", "list", "-f", "json").stdout
    assert [(r["Name"], r["Volume"], r["Status"]) for r in json.loads(snaps)] == [
        ("orig-snap", "orig", "available")
    ]
    lab.labcloud("volume", "create", "from-snap", "--snapshot", "orig-snap")
    lab.labcloud("volume", "create", "clone", "--source", "orig", "--size", "2")
    lab.labcloud("volume", "create", "from-img", "--image", "tiny")
    try:
        assert volume(lab, "from-snap")["snapshot_id"] == json.loads(snaps)[0]["ID"]
        assert (volume(lab, "clone")["source_volid"], volume(lab, "clone")["size"]) == (
            volume(lab, "orig")["id"],
            2,
        )
        img = volume(lab, "from-img")
        assert img["bootable"] is True and img["size"] == 1
        assert img["volume_image_metadata"]["image_name"] == "tiny"  # type: ignore[index]

        assert "has 1 snapshot(s): orig-snap" in refused(
            lab, "conflict", "volume", "delete", "orig"
        )
        assert len(volume_files(lab)) == len(before) + 5
    finally:
        lab.labcloud("volume", "snapshot", "delete", "orig-snap", check=False)
        lab.labcloud("volume", "delete", "from-snap", "clone", "from-img", "orig", check=False)
    assert volume_files(lab) == before


def test_boot_from_a_volume_and_from_an_image_onto_a_new_volume(lab: Node) -> None:
    before = volume_files(lab)
    lab.labcloud("volume", "create", "root1", "--image", "tiny", "--size", "1")
    lab.labcloud("server", "create", "bfv", "--volume", "root1", "--flavor", "m1.nano")
    lab.labcloud(
        "server",
        "create",
        "bfi",
        "--boot-from-image",
        "tiny",
        "--boot-volume-size",
        "1",
        "--flavor",
        "m1.nano",
    )
    try:
        for name in ("bfv", "bfi"):
            console = wait_console(lab, name, READY)
            assert f"labcloud-tiny: disk vda size {GIB}" in console  # the volume is vda
        assert volume(lab, "root1")["attachments"] == "Attached to bfv on /dev/vda"
        boot = volume(lab, "bfi-boot")
        assert boot["status"] == "in-use" and boot["delete_on_termination"] is True
        # The root disk is the volume: no overlay was made.
        assert not (lab.state_dir / "instances" / lab_server_id(lab, "bfv") / "disk").exists()
        assert "root disk" in refused(lab, "conflict", "server", "remove", "volume", "bfv", "root1")
    finally:
        lab.labcloud("server", "delete", "bfv", "bfi", check=False)
    # --volume is kept (detached); the volume made by --boot-from-image goes with its server.
    assert volume(lab, "root1")["status"] == "available"
    assert "bfi-boot" not in volume_names(lab)
    lab.labcloud("volume", "delete", "root1")
    assert volume_files(lab) == before


def test_bad_volume_input_is_refused_and_nothing_is_half_made(lab: Node) -> None:
    lab.labcloud("volume", "create", "keep", "--size", "1")
    try:
        before = (volume_names(lab), volume_files(lab))
        cases = [
            (("volume", "create", "v", "--size", "0"), "usage"),
            (("volume", "create", "v", "--size", "-1"), "usage"),
            (("volume", "create", "v", "--size", "many"), "usage"),
            (("volume", "create", "v"), "usage"),
            (("volume", "create", "v", "--size", "1", "--type", "ceph"), "not_found"),
            (("volume", "create", "a'b", "--size", "1"), "usage"),
            (("volume", "create", "keep", "--size", "1"), "conflict"),
            (("volume", "create", "v", "--image", "tiny-kernel"), "usage"),
            (
                ("volume", "create", "v", "--image", "tiny", "--size", "1", "--source", "keep"),
                "usage",
            ),
            (("volume", "extend", "keep", "--size", "1"), "usage"),
            (("volume", "snapshot", "create", "s", "--volume", "nope"), "not_found"),
            (("server", "add", "volume", "no-such-server", "keep"), "not_found"),
            (("server", "create", "x", "--volume", "keep", "--flavor", "m1.nano"), "usage"),
        ]
        for argv, code in cases:
            refused(lab, code, *argv)
        assert (volume_names(lab), volume_files(lab)) == before
        assert volume(lab, "keep")["status"] == "available"
    finally:
        lab.labcloud("volume", "delete", "keep")


@pytest.mark.parametrize(
    ("fault", "argv", "left"),
    [
        # Killed before the file was made: the next start removes the row.
        ("volume.create:create", ("volume", "create", "crash1", "--size", "1"), False),
        # Killed after the file was made, before it was marked available: finished.
        ("volume.create:finish", ("volume", "create", "crash1", "--size", "1"), True),
        # Killed halfway through a snapshot: rolled back, no snapshot file left.
        (
            "snapshot.create:snapshot",
            ("volume", "snapshot", "create", "s", "--volume", "base"),
            False,
        ),
    ],
)
def test_a_killed_volume_operation_is_finished_or_rolled_back(
    lab: Node, fault: str, argv: tuple[str, ...], left: bool
) -> None:
    from labcloud.services.core import FAULT_ENV
    from tests.harness.node import LABCLOUD_BIN

    lab.labcloud("volume", "create", "base", "--size", "1")
    before = volume_files(lab)
    try:
        out = lab.run([str(LABCLOUD_BIN), *argv], check=False, env={FAULT_ENV: fault})
        assert out.returncode == -9  # SIGKILL at the step
        names = volume_names(lab)  # this run recovers first
        made = "crash1" in names
        assert made == left
        if made:
            assert volume(lab, "crash1")["status"] == "available"
            assert len(volume_files(lab)) == len(before) + 1
        else:
            assert volume_files(lab) == before
        assert lab.labcloud("volume", "snapshot", "list", "-f", "value").stdout.strip() == ""
    finally:
        lab.labcloud("volume", "delete", "crash1", check=False)
        lab.labcloud("volume", "delete", "base")
