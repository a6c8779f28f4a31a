"""labcloud's known_hosts: a pinned key is accepted, an unknown or changed one refused
with a message that says what to check."""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest
from labcloud.backends.ssh_trust import KnownHosts, fingerprint

from labcloud.config import parse_config
from labcloud.errors import ConfigError, Untrusted


def _key() -> paramiko.PKey:
    return paramiko.RSAKey.generate(1024)


def test_a_pinned_key_is_accepted_and_others_refused(tmp_path: Path) -> None:
    known = KnownHosts(tmp_path / "ssh" / "known_hosts")
    good, other = _key(), _key()
    with pytest.raises(Untrusted, match="no pinned host key for node n1") as unknown:
        known.check("n1", "10.0.0.1", 22, good)
    assert "ssh-keygen -lf" in (unknown.value.hint or "")

    known.pin("10.0.0.1", 22, good)
    known.check("n1", "10.0.0.1", 22, good)
    with pytest.raises(Untrusted, match="changed") as changed:
        known.check("n1", "10.0.0.1", 22, other)
    assert fingerprint(good) in changed.value.message
    assert f"--trust-fingerprint {fingerprint(other)}" in (changed.value.hint or "")
    # Another port is another host entry, as in OpenSSH.
    with pytest.raises(Untrusted, match=r"\[10.0.0.1\]:2222"):
        known.check("n1", "10.0.0.1", 2222, good)
    assert (tmp_path / "ssh" / "known_hosts").stat().st_mode & 0o777 == 0o600

    known.unpin("10.0.0.1", 22)
    with pytest.raises(Untrusted, match="no pinned"):
        known.check("n1", "10.0.0.1", 22, good)


def test_fingerprints_look_like_ssh_keygen_output() -> None:
    fp = fingerprint(_key())
    assert fp.startswith("SHA256:") and len(fp) == 7 + 43 and "=" not in fp


def test_nodes_in_lab_toml_are_validated() -> None:
    text = b'[[nodes]]\nname = "n1"\nhost = "10.0.0.1"\nroles = ["compute", "storage"]\n'
    config = parse_config(text, Path("lab.toml"))
    assert config.nodes[0].roles == ("compute", "storage") and config.nodes[0].port == 22
    for bad, where in (
        (b'[[nodes]]\nname = "n1"\nhost = "-oProxyCommand=x"\n', "nodes.0.host"),
        (b'[[nodes]]\nname = "n1"\nhost = "h"\nroles = ["gpu"]\n', "nodes.0.roles"),
        (b'[[nodes]]\nname = "n1"\nhost = "h"\nfingerprint = "MD5:aa"\n', "nodes.0.fingerprint"),
        (b'[scheduler]\npolicy = "random"\n', "scheduler.policy"),
    ):
        with pytest.raises(ConfigError, match=where):
            parse_config(bad, Path("lab.toml"))
