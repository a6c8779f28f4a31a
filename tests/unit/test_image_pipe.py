"""The import's copy and hash: the kernel copy on a worker thread, each range hashed
through a mapping of the copy as soon as it lands. The stored bytes are the source's
and the digest is their sha256, whatever the size."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest
from labcloud.backends import image_store

CHUNK = image_store.COPY_CHUNK
SIZES = [0, 1, 4096, CHUNK - 1, CHUNK, 3 * CHUNK + 12345]


@pytest.mark.parametrize("size", SIZES)
def test_the_copy_is_the_source_and_the_digest_its_sha256(tmp_path: Path, size: int) -> None:
    src = tmp_path / "src.raw"
    src.write_bytes(os.urandom(size))
    before = threading.active_count()
    seen: list[int] = []
    fd = os.open(tmp_path / "out", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        digest, done = image_store._copy_hashing(str(src), fd, lambda d, _t: seen.append(d))
    finally:
        os.close(fd)
    data = src.read_bytes()
    assert (tmp_path / "out").read_bytes() == data
    assert (digest, done) == (hashlib.sha256(data).hexdigest(), size)
    assert seen == sorted(seen) and (not seen or seen[-1] == size)
    assert threading.active_count() == before
