"""The cloud-init seed: its files as cloud-init and the tiny guest read them."""

from __future__ import annotations

import email
from pathlib import Path

import pytest
from labcloud.backends.cloud_init_seed import build_seed, read_seed

from labcloud.errors import UsageError
from labcloud.services.compute import network_config, seed_files, user_data

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHxJ8Qy6pQ2W3z5kq2f1iQ7mM6oPq7m8fR2Y3w8nQ2x1 me@lab"
SERVER = "3f1c3a8e-1111-4222-8333-944455556666"


def test_the_seed_iso_is_labelled_cidata_with_its_real_file_names(tmp_path: Path) -> None:
    files = seed_files(SERVER, "web1", [KEY], None, ["52:54:00:AA:BB:01"])
    build_seed(str(tmp_path / "seed.iso"), files)
    label, read = read_seed(str(tmp_path / "seed.iso"))
    assert label == "cidata"
    assert sorted(read) == ["meta-data", "network-config", "user-data"]
    assert read["meta-data"].decode() == f"instance-id: {SERVER}\nlocal-hostname: web1\n"
    assert read["user-data"].decode().startswith("#cloud-config\nssh_authorized_keys:\n")
    assert f'  - "{KEY}"' in read["user-data"].decode()
    assert not list(tmp_path.glob(".*"))  # no temporary file left


def test_network_config_matches_each_nic_by_mac() -> None:
    text = network_config(["52:54:00:AA:BB:01", "52:54:00:aa:bb:02"])
    assert text is not None
    assert text.decode().splitlines() == [
        "version: 2",
        "ethernets:",
        "  nic0:",
        "    match:",
        '      macaddress: "52:54:00:aa:bb:01"',
        "    dhcp4: true",
        "  nic1:",
        "    match:",
        '      macaddress: "52:54:00:aa:bb:02"',
        "    dhcp4: true",
    ]
    assert network_config([]) is None


def test_a_key_and_a_script_make_a_mime_multipart() -> None:
    script = b"#!/bin/sh\necho hello\n"
    data = user_data([KEY], script)
    assert data is not None
    msg = email.message_from_bytes(data)
    assert msg.is_multipart()
    parts = [(p.get_content_type(), p.get_payload(decode=True)) for p in msg.get_payload()]
    assert parts[0][0] == "text/cloud-config" and KEY.encode() in parts[0][1]
    assert parts == [parts[0], ("text/x-shellscript", script)]
    assert b"Content-Transfer-Encoding: base64" not in data  # the tiny guest reads it as text


def test_user_data_alone_is_passed_as_given() -> None:
    assert user_data([], b"#cloud-config\nhostname: x\n") == b"#cloud-config\nhostname: x\n"
    with pytest.raises(UsageError, match="already MIME multipart"):
        user_data([KEY], b"Content-Type: multipart/mixed; boundary=x\n\n--x--\n")
