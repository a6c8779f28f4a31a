"""The import's hashing, its reading on a thread of its own: the digest is the file's
sha256 whatever its size, a failed copy beside it stops it early, and no thread is left
behind."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest
from labcloud.backends import image_pipe

SIZES = [0, 1, image_pipe.CHUNK - 1, image_pipe.CHUNK, 5 * image_pipe.CHUNK + 12345]


@pytest.mark.parametrize("size", SIZES)
def test_the_digest_is_the_files_sha256(tmp_path: Path, size: int) -> None:
    src = tmp_path / "src.raw"
    src.write_bytes(os.urandom(size))
    seen: list[int] = []
    with open(src, "rb") as fin:
        digest, done = image_pipe.hash_fd(fin.fileno(), size, lambda d, _t: seen.append(d))
    assert (digest, done) == (hashlib.sha256(src.read_bytes()).hexdigest(), size)
    assert seen == sorted(seen) and (not seen or seen[-1] == size)


def test_giving_up_stops_early_and_leaves_no_thread(tmp_path: Path) -> None:
    src = tmp_path / "src.raw"
    src.write_bytes(os.urandom(6 * image_pipe.CHUNK))
    before = threading.active_count()
    with open(src, "rb") as fin:
        _digest, done = image_pipe.hash_fd(fin.fileno(), 6 * image_pipe.CHUNK, give_up=lambda: True)
    assert done == image_pipe.CHUNK  # the first buffer, then it stopped
    assert threading.active_count() == before
