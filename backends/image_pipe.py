"""Hash a file as a copy of it is being written: the copy, read back through a mapping.

sha256 runs on one core at about the speed of a plain copy, so a content-addressed
import is bound by it. Reading the source a second time into user memory would cost
a further copy of every byte on that core; instead the hasher maps the file being
written and hashes each range as soon as the kernel copy (on another thread) reports
it done: the pages are already in the page cache, so the hash needs no read at all.
The stored bytes are the hashed bytes. The file is ours (a fresh 0600 file in the
store), so nobody truncates it under the mapping.
"""

from __future__ import annotations

import hashlib
import mmap
import queue
from collections.abc import Callable

Progress = Callable[[int, int], None]
Ranges = queue.SimpleQueue[tuple[int, int] | None]  # (offset, length) written; None: done


def hash_as_written(
    fd: int, total: int, ranges: Ranges, hashed: list[int], progress: Progress | None = None
) -> tuple[str, int]:
    """(sha256 hex, bytes hashed) of fd's first `total` bytes, range by range as they are
    reported written, in order, until None. fd must already be `total` bytes long.
    hashed[0] follows how far it got, for the copier's writeback (image_store.py)."""
    digest = hashlib.sha256()
    done = 0
    if total == 0:
        while ranges.get() is not None:
            pass
        return digest.hexdigest(), 0
    with mmap.mmap(fd, total, prot=mmap.PROT_READ) as mapped:
        mapped.madvise(mmap.MADV_SEQUENTIAL)
        view = memoryview(mapped)
        try:
            while (item := ranges.get()) is not None:
                offset, length = item
                assert offset == done, "ranges come in order"
                digest.update(view[offset : offset + length])
                done += length
                hashed[0] = done  # the copier may start writing this much back now
                if progress:
                    progress(done, total)
        finally:
            view.release()
    return digest.hexdigest(), done
