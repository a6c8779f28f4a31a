"""A user's story on a real libvirtd: boot the tiny image, watch its console, drive its
lifecycle, and delete it, leaving nothing behind."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from labcloud.errors import EXIT_CODES
from tests.harness import Node
from tests.harness.node import LABCLOUD_BIN

READY = "labcloud-tiny: ready"


def server_json(lab: Node, name: str) -> dict[str, object]:
    return dict(json.loads(lab.labcloud("server", "show", name, "-f", "json").stdout))


def status(lab: Node, name: str) -> str:
    return str(server_json(lab, name)["status"])


def domains(lab: Node) -> list[str]:
    out = lab.run(["virsh", "-c", "qemu:///system", "list", "--all", "--name"]).stdout
    return [line for line in out.split() if line]


def instance_dirs(lab: Node) -> list[str]:
    path = lab.state_dir / "instances"
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


@pytest.fixture
def web1(lab: Node) -> Iterator[str]:
    lab.labcloud("server", "create", "web1", "--image", "tiny", "--flavor", "m1.nano", "--wait")
    yield "web1"
    lab.labcloud("server", "delete", "web1", check=False)


def test_boot_console_lifecycle_and_delete(lab: Node, web1: str) -> None:
    shown = server_json(lab, web1)
    assert shown["status"] == "ACTIVE" and shown["power_state"] == "RUNNING"
    assert f"labcloud-{shown['id']}" in domains(lab)

    console = lab.labcloud("console", "log", web1, "--wait-for", READY, "--timeout", "90").stdout
    assert "labcloud-tiny: hostname web1" in console
    assert "labcloud-tiny: disk vda size 1073741824" in console  # the flavor's 1 GiB root disk
    last = lab.labcloud("console", "log", web1, "--lines", "1").stdout
    assert last.count("\n") <= 1

    rows = json.loads(lab.labcloud("server", "list", "-f", "json").stdout)
    assert [(r["Name"], r["Status"], r["Image"], r["Flavor"]) for r in rows] == [
        ("web1", "ACTIVE", "tiny", "m1.nano")
    ]

    lab.labcloud("server", "stop", web1, "--timeout", "30")
    assert status(lab, web1) == "SHUTOFF"
    lab.labcloud("server", "start", web1)
    assert status(lab, web1) == "ACTIVE"

    lab.labcloud("server", "pause", web1)
    assert status(lab, web1) == "PAUSED"
    lab.labcloud("server", "unpause", web1)
    assert status(lab, web1) == "ACTIVE"

    lab.labcloud("server", "suspend", web1)
    assert status(lab, web1) == "SUSPENDED"
    lab.labcloud("server", "resume", web1)
    assert status(lab, web1) == "ACTIVE"

    lab.labcloud("server", "reboot", "--hard", web1)
    assert status(lab, web1) == "ACTIVE"
    lab.labcloud("console", "log", web1, "--wait-for", "up [0-9.]+ s", "--timeout", "90")

    refused = lab.labcloud("server", "unpause", web1, check=False)
    assert refused.returncode == EXIT_CODES["conflict"] and "while it is ACTIVE" in refused.stderr

    server_id = str(shown["id"])
    lab.labcloud("server", "delete", web1)
    assert lab.labcloud("server", "show", web1, check=False).returncode == EXIT_CODES["not_found"]
    assert f"labcloud-{server_id}" not in domains(lab)
    assert server_id not in instance_dirs(lab)


def test_two_boots_show_two_ready_banners_after_a_soft_reboot(lab: Node) -> None:
    lab.labcloud("server", "create", "rb", "--image", "tiny", "--flavor", "m1.nano")
    try:
        lab.labcloud("console", "log", "rb", "--wait-for", READY, "--timeout", "90")
        lab.labcloud("server", "reboot", "--soft", "rb", "--timeout", "30")
        deadline = time.monotonic() + 90
        while lab.labcloud("console", "log", "rb").stdout.count(READY) < 2:
            assert time.monotonic() < deadline, "no second ready banner after reboot"
            time.sleep(0.5)
        assert status(lab, "rb") == "ACTIVE"
    finally:
        lab.labcloud("server", "delete", "rb")


def test_bad_input_is_refused_and_nothing_is_half_made(lab: Node, web1: str) -> None:
    before = (domains(lab), instance_dirs(lab))
    cases = [
        (("server", "create", "web1", "--image", "tiny", "--flavor", "m1.nano"), "conflict"),
        (("server", "create", "x", "--image", "tiny", "--flavor", "m9.huge"), "not_found"),
        (("server", "create", "x", "--image", "nope", "--flavor", "m1.nano"), "not_found"),
        (("server", "create", "x", "--image", "tiny-kernel", "--flavor", "m1.nano"), "usage"),
        (("server", "create", "a'b", "--image", "tiny", "--flavor", "m1.nano"), "usage"),
        (("server", "create", "$(reboot)", "--image", "tiny", "--flavor", "m1.nano"), "usage"),
        (("server", "create", "a&amp;", "--image", "tiny", "--flavor", "m1.nano"), "usage"),
    ]
    for argv, code in cases:
        out = lab.labcloud(*argv, check=False)
        assert out.returncode == EXIT_CODES[code], (argv, out.stderr)
        assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert (domains(lab), instance_dirs(lab)) == before
    names = lab.labcloud("server", "list", "-f", "value", "-c", "Name").stdout.split()
    assert names == ["web1"]


def test_image_in_use_cannot_be_deleted(lab: Node, web1: str) -> None:
    out = lab.labcloud("image", "delete", "tiny", check=False)
    assert out.returncode == EXIT_CODES["conflict"] and "web1" in out.stderr


def test_drift_shows_as_status_and_doctor_repairs_it(lab: Node, web1: str) -> None:
    dom = f"labcloud-{server_json(lab, web1)['id']}"
    lab.run(["virsh", "-c", "qemu:///system", "destroy", dom])
    assert status(lab, web1) == "SHUTOFF"
    lab.run(["virsh", "-c", "qemu:///system", "undefine", dom])
    shown = server_json(lab, web1)
    assert shown["status"] == "ERROR" and "missing" in str(shown["fault"])
    report = json.loads(lab.labcloud("doctor", "-f", "json").stdout)
    assert any(f["Kind"] == "missing-domain" and not f["Repaired"] for f in report)
    lab.labcloud("doctor", "--repair")
    assert status(lab, web1) == "SHUTOFF"
    lab.labcloud("server", "start", web1)
    assert status(lab, web1) == "ACTIVE"


def test_labcloud_never_touches_a_domain_it_did_not_create(lab: Node) -> None:
    xml = (
        "<domain type='qemu'><name>someone-elses</name><memory unit='MiB'>16</memory>"
        "<os><type arch='x86_64'>hvm</type></os></domain>"
    )
    lab.run(["virsh", "-c", "qemu:///system", "define", "/dev/stdin"], input=xml)
    try:
        assert "someone-elses" not in lab.labcloud("server", "list").stdout
        report = lab.labcloud("doctor", "--repair", "-f", "json").stdout
        assert "someone-elses" not in report
        assert "someone-elses" in domains(lab)
    finally:
        lab.run(["virsh", "-c", "qemu:///system", "undefine", "someone-elses"])


def test_libvirtd_not_running_is_a_clear_error(lab: Node) -> None:
    other = lab.workdir / "down.toml"
    other.write_text(
        f'[site]\nstate_dir = "{lab.state_dir}"\n'
        'libvirt_uri = "qemu:///system?socket=/run/libvirt/not-running-sock"\n'
    )
    out = lab.run([str(LABCLOUD_BIN), "--lab", str(other), "server", "list"], check=False)
    assert out.returncode == EXIT_CODES["backend"]
    assert "cannot connect to libvirt" in out.stderr and out.stderr.count("\n") == 1
