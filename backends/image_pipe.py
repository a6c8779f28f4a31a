"""Hash a file with its reading and its hashing on two threads.

sha256 runs on one core at about the speed of a plain copy, so a content-addressed
import is bound by it. Reading into user memory costs a further copy per byte; a reader
thread does that into a few large buffers while the calling thread hashes the one
before, so hashing never waits on reading. Both release the GIL (OpenSSL's sha256 on
large buffers, read(2)), so on two cores this takes about as long as hashing alone.
A buffer goes back to the reader when it is hashed; after a failure or an interruption
the hasher only hands buffers back, so the reader is never left waiting.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Callable

CHUNK = 8 * 1024 * 1024
DEPTH = 3  # one buffer being read, one being hashed, one ready

Progress = Callable[[int, int], None]


class _Reader:
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.views = [memoryview(bytearray(CHUNK)) for _ in range(DEPTH)]
        self.free: queue.SimpleQueue[int] = queue.SimpleQueue()
        for i in range(DEPTH):
            self.free.put(i)
        self.full: queue.SimpleQueue[tuple[int, int] | None] = queue.SimpleQueue()
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                i = self.free.get()
                n = os.readv(self.fd, [self.views[i]])
                if n == 0 or self.stop.is_set():
                    break
                self.full.put((i, n))
        except BaseException as exc:
            self.error = exc
        finally:
            self.full.put(None)


def hash_fd(
    fd: int,
    total: int,
    progress: Progress | None = None,
    give_up: Callable[[], bool] = lambda: False,
) -> tuple[str, int]:
    """(sha256 hex, bytes read) of fd from its offset to its end.

    Stops early, returning what it hashed so far, once give_up() is true (the copy beside
    it failed: no use hashing the rest). Raises the reader's error, or what interrupted
    the caller (KeyboardInterrupt), once the reader has stopped.
    """
    reader = _Reader(fd)
    thread = threading.Thread(target=reader.run, name="image-read", daemon=True)
    thread.start()
    digest = hashlib.sha256()
    done = 0
    ended = False
    try:
        while (item := reader.full.get()) is not None:
            i, n = item
            if not reader.stop.is_set():
                digest.update(reader.views[i][:n])
                done += n
                if progress:
                    progress(done, total)
                if give_up():
                    reader.stop.set()
            reader.free.put(i)
        ended = True
    except BaseException:
        reader.stop.set()
        raise
    finally:
        if not ended:  # interrupted here: hand buffers back until the reader stops
            while (item := reader.full.get()) is not None:
                reader.free.put(item[0])
        thread.join()
    if reader.error is not None:
        raise reader.error
    return digest.hexdigest(), done
