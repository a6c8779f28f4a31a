"""Copy a file and hash the copy at once, on both cores: read, hash, write in a pipeline.

sha256 runs on one core at about the speed of a plain copy, so a content-addressed
import is bound by it; everything else must stay off the hashing core and cost little.
A ring of large page-aligned buffers goes round three stages:
- read (worker thread): fills a free buffer from the source (from the page cache, a
  memory copy of about 0.08 s per GiB);
- hash (the caller's thread, which also reports progress): hashes the buffer in place
  (hashlib releases the GIL on big buffers);
- write (worker thread): writes that very buffer with O_DIRECT, so the disk DMAs from it.
  Nothing is copied into the page cache, no dirty pages pile up, and there is no
  writeback left for the final fsync; the writing thread mostly waits on the disk. Where
  the filesystem refuses O_DIRECT (tmpfs before Linux 6.6, some FUSE) it writes through
  the page cache instead.
A buffer is reused only once it is written, so the bytes stored are the bytes hashed.
The hash is the slowest stage, so the import takes about as long as hashing alone.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import mmap
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

CHUNK = 16 * 1024 * 1024  # a multiple of any direct-I/O alignment
BUFFERS = 4  # 64 MiB in flight: enough for each stage to always find work
DIRECT_ALIGN = 4096  # a write's length must be a multiple of the logical block size
WAKE = 0.1  # how often a waiting stage checks whether the pipe was aborted

Progress = Callable[[int, int], None]
Piece = tuple[mmap.mmap, int, int] | None  # (buffer, offset in the file, length); None: done
T = TypeVar("T")


def copy_hashing(
    in_fd: int, out_fd: int, out_path: str, total: int, progress: Progress | None = None
) -> tuple[str, int]:
    """Copy in_fd's first `total` bytes to out_fd, an empty file at out_path: (sha256 hex
    of the bytes written, bytes written). A failed stage (a full disk) raises here; a
    failed or interrupted hash (Ctrl-C) stops the other stages at their next buffer.
    The caller fsyncs out_fd and compares the count with what it expected."""
    free: queue.SimpleQueue[mmap.mmap] = queue.SimpleQueue()
    to_hash: queue.SimpleQueue[Piece] = queue.SimpleQueue()
    to_write: queue.SimpleQueue[Piece] = queue.SimpleQueue()
    # Set by whichever stage fails (or is interrupted): the workers then stop waiting and
    # return, so the pool's exit never waits forever on a thread that waits for another.
    abort = threading.Event()
    buffers = [mmap.mmap(-1, CHUNK) for _ in range(BUFFERS)]  # anonymous: page-aligned
    for buf in buffers:
        free.put(buf)
    direct_fd = None
    try:
        direct_fd = _open_direct(out_path, out_fd)
        with ThreadPoolExecutor(2, thread_name_prefix="image-pipe") as pool:
            try:
                read = pool.submit(_read, in_fd, total, free, to_hash, abort)
                written = pool.submit(write_buffers, out_fd, direct_fd, to_write, free, abort)
                digest, hashed = _hash(to_hash, to_write, total, progress)
                to_write.put(None)  # the end, after the last hashed buffer
            except BaseException:
                abort.set()
                raise
            read.result()  # a failed read raises here
            done = written.result()  # a failed write (a full disk) raises here
    finally:
        if direct_fd is not None:
            os.close(direct_fd)
        for buf in buffers:
            # A failure's traceback may still hold a view of one; the GC frees that one.
            with contextlib.suppress(BufferError):
                buf.close()
    if hashed != done:
        raise OSError(errno.EIO, f"wrote {done} bytes but hashed {hashed}")
    return digest, done


def _open_direct(path: str, out_fd: int) -> int | None:
    """A second descriptor of the same file, for O_DIRECT writes; None where the
    filesystem refuses direct I/O."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_DIRECT | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            return None
        raise
    mine, theirs = os.fstat(fd), os.fstat(out_fd)
    if (mine.st_dev, mine.st_ino) != (theirs.st_dev, theirs.st_ino):
        os.close(fd)
        raise OSError(errno.ESTALE, f"{path} was replaced during the import")
    return fd


def _take(q: queue.SimpleQueue[T], abort: threading.Event) -> T | None:
    """The next item, or None once the pipe is aborted (checked every WAKE seconds)."""
    while not abort.is_set():
        try:
            return q.get(timeout=WAKE)
        except queue.Empty:
            pass
    return None


def _read(
    fd: int,
    total: int,
    free: queue.SimpleQueue[mmap.mmap],
    to_hash: queue.SimpleQueue[Piece],
    abort: threading.Event,
) -> None:
    """Fill free buffers from fd in order and pass them on, then None (also on failure)."""
    offset = 0
    try:
        while offset < total and (buf := _take(free, abort)) is not None:
            n = os.preadv(fd, [memoryview(buf)[: min(CHUNK, total - offset)]], offset)
            if n == 0:
                break  # the file shrank: the caller's check reports it
            to_hash.put((buf, offset, n))
            offset += n
    except BaseException:
        abort.set()
        raise
    finally:
        to_hash.put(None)


def _hash(
    to_hash: queue.SimpleQueue[Piece],
    to_write: queue.SimpleQueue[Piece],
    total: int,
    progress: Progress | None,
) -> tuple[str, int]:
    """Hash each buffer in order, then hand it to the writer: (sha256 hex, bytes)."""
    digest = hashlib.sha256()
    done = 0
    while (piece := to_hash.get()) is not None:
        buf, offset, n = piece
        assert offset == done, "buffers come in order"
        with memoryview(buf) as view:
            digest.update(view[:n])
        to_write.put(piece)
        done += n
        if progress:
            progress(done, total)
    return digest.hexdigest(), done


def write_buffers(
    fd: int,
    direct_fd: int | None,
    to_write: queue.SimpleQueue[Piece],
    free: queue.SimpleQueue[mmap.mmap],
    abort: threading.Event,
) -> int:
    """Write each buffer at its offset and free it, until None: the bytes written."""
    done = 0
    try:
        while (piece := _take(to_write, abort)) is not None:
            buf, offset, n = piece
            with memoryview(buf) as view:
                write_all(fd, direct_fd, view[:n], offset)
            done += n
            free.put(buf)
    except BaseException:
        abort.set()
        raise
    return done


def write_all(fd: int, direct_fd: int | None, data: memoryview, offset: int) -> None:
    """Write data at offset: its aligned part through direct_fd when there is one, any
    unaligned tail (the file's last block) or a refused direct write through fd."""
    while data:
        aligned = len(data) - len(data) % DIRECT_ALIGN
        if direct_fd is not None and aligned and offset % DIRECT_ALIGN == 0:
            try:
                n = os.pwrite(direct_fd, data[:aligned], offset)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                direct_fd = None  # an alignment the device will not take: buffered
                continue
        else:
            n = os.pwrite(fd, data, offset)
        if n == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        data, offset = data[n:], offset + n
