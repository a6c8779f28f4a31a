"""What a disk copy between nodes is checked against, and what a bad copy leaves behind."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from labcloud.backends import file_relay
from labcloud.backends.host_agent import LocalAgent

from labcloud.errors import BackendError


def test_an_instance_directory_is_listed_with_sizes_and_checksums(tmp_path: Path) -> None:
    instance = tmp_path / "instances" / "abc"
    instance.mkdir(parents=True)
    (instance / "disk").write_bytes(b"x" * 5000)
    (instance / "console.log").write_text("labcloud-tiny: ready\n")
    (instance / "sub").mkdir()  # not a file of the server's: not copied
    listed = {f["name"]: f for f in LocalAgent(tmp_path).digest_files(str(instance))}
    assert set(listed) == {"disk", "console.log"}
    assert listed["disk"]["size"] == 5000
    assert listed["disk"]["sha256"] == hashlib.sha256(b"x" * 5000).hexdigest()
    assert LocalAgent(tmp_path).digest_files(str(tmp_path / "gone")) == []


def test_a_growing_log_is_sent_as_it_was_hashed(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    log.write_text("boot\nready\n")
    size = log.stat().st_size
    with log.open("a") as f:
        f.write("a line written after the listing\n")
    assert b"".join(file_relay.read_local(str(log), size)) == b"boot\nready\n"


def test_a_copy_that_does_not_match_its_checksum_leaves_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "instances" / "abc" / "disk"
    with pytest.raises(BackendError, match="corrupt"):
        file_relay.write_local(iter([b"bits"]), str(dest), "0" * 64, lambda *_: None)
    assert list(dest.parent.iterdir()) == []

    good = hashlib.sha256(b"bits").hexdigest()
    assert file_relay.write_local(iter([b"bi", b"ts"]), str(dest), good, lambda *_: None) == 4
    assert dest.read_bytes() == b"bits"
