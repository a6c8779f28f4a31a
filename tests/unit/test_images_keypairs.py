"""Keypair validation and fingerprints, as Nova shows them."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from labcloud.errors import UsageError
from labcloud.services.compute import fingerprint, normalize_public_key, ssh_argv


def openssh(key: object) -> str:
    return (
        key.public_key()
        .public_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        .decode()
    )


def test_a_valid_key_is_kept_with_its_comment() -> None:
    text = openssh(ed25519.Ed25519PrivateKey.generate())
    assert normalize_public_key(f"\n{text}  alice@lab \n") == f"{text} alice@lab"


def test_fingerprint_is_md5_of_the_blob_in_colon_pairs() -> None:
    text = openssh(ed25519.Ed25519PrivateKey.generate())
    digest = hashlib.md5(base64.b64decode(text.split()[1])).hexdigest()
    fp = fingerprint(text)
    assert fp.replace(":", "") == digest and len(fp.split(":")) == 16


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "exactly one key"),
        ("ssh-ed25519 AAAA\nssh-ed25519 BBBB", "exactly one key"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----", "private key"),
        ("ssh-dss AAAAB3NzaC1kc3M=", "not an OpenSSH public key"),
        ("ssh-ed25519 not-base64!!", "invalid ssh-ed25519"),
    ],
)
def test_bad_keys_are_refused(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        normalize_public_key(text)


def test_a_key_whose_type_lies_is_refused() -> None:
    blob = openssh(ed25519.Ed25519PrivateKey.generate()).split()[1]
    with pytest.raises(UsageError):
        normalize_public_key(f"ssh-rsa {blob}")


def test_a_weak_rsa_key_is_refused() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(UsageError, match="too weak"):
        normalize_public_key(openssh(weak))


def test_ssh_argv_pins_host_keys_per_server_and_ends_options(tmp_path: Path) -> None:
    argv = ssh_argv(
        "3f1c3a8e-1111-4222-8333-944455556666",
        "10.0.0.5",
        login="cirros",
        known_hosts=tmp_path / "kh",
        port=2222,
        identity="/k",
        options=("ConnectTimeout=5",),
        command=("uptime",),
    )
    assert argv == [
        "ssh",
        *("-o", f"UserKnownHostsFile={tmp_path / 'kh'}"),
        *("-o", "HostKeyAlias=labcloud-3f1c3a8e-1111-4222-8333-944455556666"),
        *("-o", "StrictHostKeyChecking=accept-new"),
        *("-l", "cirros", "-p", "2222", "-i", "/k", "-o", "ConnectTimeout=5"),
        *("--", "10.0.0.5", "uptime"),
    ]


@pytest.mark.parametrize(
    ("address", "login", "message"),
    [("-oProxyCommand=x", "root", "invalid address"), ("10.0.0.5", "-x", "invalid login")],
)
def test_ssh_argv_refuses_option_injection(
    tmp_path: Path, address: str, login: str, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        ssh_argv("id", address, login=login, known_hosts=tmp_path / "kh")
