"""The framing both local sockets use (the node broker's and the fork server's): messages
arrive whole and in order, descriptors travel with them, and a short or oversized message
is told apart from a good one without leaking a descriptor."""

from __future__ import annotations

import array
import os
import socket
import threading

import pytest

from labcloud import framing


def _open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


def test_messages_and_descriptors_arrive_whole() -> None:
    a, b = socket.socketpair()
    r, w = os.pipe()
    try:

        def write() -> None:  # from a thread: a big message fills the socket's buffer
            framing.send(a, {"argv": ["server", "list"], "big": "x" * 300_000}, fds=[w])
            framing.send(a, [1, 2, 3])

        writer = threading.Thread(target=write)
        writer.start()
        got = framing.receive(b, limit=1 << 20, max_fds=3)
        assert got is not None
        message, fds = got
        assert message == {"argv": ["server", "list"], "big": "x" * 300_000} and len(fds) == 1
        os.write(fds[0], b"through the passed fd")
        os.close(fds[0])
        assert os.read(r, 100) == b"through the passed fd"
        assert framing.receive(b, limit=1 << 20) == ([1, 2, 3], [])
        writer.join()
        a.close()
        assert framing.receive(b, limit=1 << 20) is None
    finally:
        for end in (a, b):
            end.close()
        os.close(r)
        os.close(w)


def test_a_short_or_oversized_message_leaks_no_descriptor() -> None:
    r, w = os.pipe()
    before = _open_fds()
    try:
        for data in (framing.HEADER.pack(10) + b"{}", framing.HEADER.pack(99) + b"{}"):
            a, b = socket.socketpair()
            a.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [w]))])
            a.close()
            if len(data) == framing.HEADER.size + 2 and data[3] == 10:  # cut short
                assert framing.receive(b, limit=50, max_fds=1) is None
            else:
                with pytest.raises(ValueError, match="too large"):
                    framing.receive(b, limit=50, max_fds=1)
            b.close()
            assert _open_fds() == before
    finally:
        os.close(r)
        os.close(w)
