"""The import's copy and hash: a reader, the hasher and a direct-I/O writer sharing a ring
of buffers. The stored bytes are the source's and the digest is their sha256, whatever
the size, with or without O_DIRECT; a failed stage stops the others and leaves no
thread behind."""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from labcloud.backends import image_pipe, image_store

CHUNK = image_pipe.CHUNK
RING = image_pipe.BUFFERS * CHUNK  # beyond this, buffers are reused
SIZES = [0, 1, 4096, 4097, CHUNK - 1, CHUNK, RING + 3 * CHUNK + 12345]


def _import(tmp_path: Path, data: bytes, progress=None) -> tuple[str, int]:
    src = tmp_path / "src.raw"
    src.write_bytes(data)
    out = tmp_path / "out"
    fd = os.open(out, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        return image_store.copy_file_hashing(str(src), fd, str(out), progress)
    finally:
        os.close(fd)


@pytest.mark.parametrize("size", SIZES)
def test_the_copy_is_the_source_and_the_digest_its_sha256(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    before = threading.active_count()
    seen: list[int] = []
    digest, done = _import(tmp_path, data, lambda d, _t: seen.append(d))
    assert (tmp_path / "out").read_bytes() == data
    assert (digest, done) == (hashlib.sha256(data).hexdigest(), size)
    assert seen == sorted(seen) and (not seen or seen[-1] == size)
    assert threading.active_count() == before


def test_without_direct_io_the_copy_goes_through_the_page_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(image_pipe, "_open_direct", lambda _path, _fd: None)
    data = os.urandom(2 * CHUNK + 999)
    digest, _ = _import(tmp_path, data)
    assert (tmp_path / "out").read_bytes() == data
    assert digest == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("fails_at", [0, 1])
def test_a_failed_write_stops_the_pipe_and_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fails_at: int
) -> None:
    """A stand-in for a disk that is full at once, or after the first buffer: the reader
    and the hasher must not wait forever for buffers the writer will never free."""
    real = image_pipe.write_all
    calls = []

    def fill_up(fd, direct_fd, data, offset):
        calls.append(offset)
        if len(calls) > fails_at:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd, direct_fd, data, offset)

    monkeypatch.setattr(image_pipe, "write_all", fill_up)
    before = threading.active_count()
    with pytest.raises(OSError) as err:
        _import(tmp_path, os.urandom(RING + 3 * CHUNK))
    assert err.value.errno == errno.ENOSPC
    assert threading.active_count() == before


def test_an_interrupt_as_the_pipe_starts_stops_the_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C lands after the reader started, before the writer did: the reader fills
    every buffer, and must not wait forever for one to come back."""

    class Interrupted(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            if fn is image_pipe.write_buffers:
                raise KeyboardInterrupt
            return super().submit(fn, *args, **kwargs)

    monkeypatch.setattr(image_pipe, "ThreadPoolExecutor", Interrupted)
    before = threading.active_count()
    with pytest.raises(KeyboardInterrupt):
        _import(tmp_path, os.urandom(RING + 3 * CHUNK))
    assert threading.active_count() == before


def test_an_interrupted_hash_stops_the_copy(tmp_path: Path) -> None:
    before = threading.active_count()

    def ctrl_c(done: int, _total: int) -> None:
        if done >= CHUNK:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _import(tmp_path, os.urandom(RING + 3 * CHUNK), ctrl_c)
    assert os.path.getsize(tmp_path / "out") < RING + 3 * CHUNK
    assert threading.active_count() == before
