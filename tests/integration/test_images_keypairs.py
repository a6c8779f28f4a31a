"""Keypairs as a user meets them: a generated key printed once, an imported key, the
fingerprints ssh-keygen shows, and bad keys refused with nothing made."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from labcloud.errors import EXIT_CODES
from tests.harness import Node


def keygen(*args: str) -> str:
    return subprocess.run(
        ["ssh-keygen", *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def names(lab: Node) -> list[str]:
    return [r["Name"] for r in json.loads(lab.labcloud("keypair", "list", "-f", "json").stdout)]


@pytest.fixture
def keys(lab: Node) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    if made:
        lab.labcloud("keypair", "delete", *made, check=False)


def test_a_generated_key_is_printed_once_and_matches_its_public_half(
    lab: Node, tmp_path: Path, keys: list[str]
) -> None:
    private = lab.labcloud("keypair", "create", "gen").stdout
    keys.append("gen")
    assert private.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    key_file = tmp_path / "gen"
    key_file.write_text(private)
    key_file.chmod(0o600)
    shown = json.loads(lab.labcloud("keypair", "show", "gen", "-f", "json").stdout)
    assert shown["public_key"].split()[:2] == keygen("-y", "-f", str(key_file)).split()[:2]
    assert shown["public_key"].startswith("ssh-ed25519 ")
    fp = keygen("-l", "-E", "md5", "-f", str(key_file)).split()[1]
    assert fp == f"MD5:{shown['fingerprint']}"
    assert shown["user_name"] == "root"  # the harness runs commands as root
    assert "PRIVATE" not in lab.labcloud("keypair", "show", "gen").stdout  # never again


def test_import_a_public_key_and_refuse_bad_ones(
    lab: Node, tmp_path: Path, keys: list[str]
) -> None:
    keygen("-q", "-t", "rsa", "-b", "3072", "-N", "", "-C", "me@lab", "-f", str(tmp_path / "rsa"))
    pub = tmp_path / "rsa.pub"
    lab.labcloud("keypair", "create", "mine", "--public-key", str(pub))
    keys.append("mine")
    row = json.loads(lab.labcloud("keypair", "list", "-f", "json").stdout)
    mine = next(r for r in row if r["Name"] == "mine")
    assert f"MD5:{mine['Fingerprint']}" == keygen("-l", "-E", "md5", "-f", str(pub)).split()[1]
    assert lab.labcloud("keypair", "show", "mine", "--public-key").stdout.strip() == (
        pub.read_text().strip()
    )

    before = names(lab)
    (tmp_path / "junk.pub").write_text("ssh-ed25519 this-is-not-base64!\n")
    (tmp_path / "two.pub").write_text(pub.read_text() * 2)
    cases = [
        (["x", "--public-key", str(tmp_path / "junk.pub")], "usage", "invalid ssh-ed25519"),
        (["x", "--public-key", str(tmp_path / "two.pub")], "usage", "exactly one key"),
        (["x", "--public-key", str(tmp_path / "rsa")], "usage", "private key"),
        (["x", "--public-key", str(tmp_path / "none.pub")], "usage", "No such file"),
        (["mine", "--public-key", str(pub)], "conflict", "already exists"),
        (["bad name"], "usage", "invalid keypair name"),
    ]
    for args, code, message in cases:
        refused = lab.labcloud("keypair", "create", *args, check=False)
        assert refused.returncode == EXIT_CODES[code], (args, refused.stderr)
        assert message in refused.stderr and refused.stderr.count("\n") == 1, refused.stderr
    assert names(lab) == before

    lab.labcloud("keypair", "delete", "mine")
    keys.remove("mine")
    gone = lab.labcloud("keypair", "show", "mine", check=False)
    assert gone.returncode == EXIT_CODES["not_found"]


def test_a_server_with_an_unknown_key_is_refused_before_anything_is_made(lab: Node) -> None:
    refused = lab.labcloud(
        "server", "create", "nokey", "--image", "tiny", "--flavor", "m1.nano",
        "--key-name", "no-such-key", check=False,
    )  # fmt: skip
    assert refused.returncode == EXIT_CODES["not_found"]
    assert "no keypair named 'no-such-key'" in refused.stderr
    listed = lab.labcloud("server", "list", "-f", "value", "-c", "Name").stdout.split()
    assert "nokey" not in listed
