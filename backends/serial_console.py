"""A domain's serial console as a libvirt virStream: bytes in, bytes out.

virsh console does the same. The stream is non-blocking and read through libvirt's event
loop (the Host's event thread), so a reader waiting for output never holds the connection
while a writer sends keys.
"""

from __future__ import annotations

import contextlib
import queue
import threading

import libvirt

from labcloud.errors import BackendError

CHUNK = 4096


class ConsoleStream:
    def __init__(self, conn: libvirt.virConnect, dom: libvirt.virDomain) -> None:
        self._stream = conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
        self._out: queue.Queue[bytes] = queue.Queue()
        self._lock = threading.Lock()
        self._closed = False
        try:
            # FORCE: take the console from a stale session (a crashed TUI, a virsh console).
            dom.openConsole(None, self._stream, libvirt.VIR_DOMAIN_CONSOLE_FORCE)
            self._stream.eventAddCallback(
                libvirt.VIR_STREAM_EVENT_READABLE
                | libvirt.VIR_STREAM_EVENT_ERROR
                | libvirt.VIR_STREAM_EVENT_HANGUP,
                self._readable,
                None,
            )
        except libvirt.libvirtError as exc:
            raise BackendError(
                f"cannot open the serial console: {exc.get_error_message()}"
            ) from None

    def _readable(self, stream: libvirt.virStream, events: int, _opaque: object) -> None:
        """On libvirt's event thread: move what arrived into the queue."""
        with self._lock:
            if self._closed:
                return
            try:
                while True:
                    data = stream.recv(CHUNK)
                    if data == -2:  # nothing more for now
                        break
                    if not data:  # the domain went away
                        self._hang_up()
                        return
                    self._out.put(bytes(data))
            except libvirt.libvirtError:
                self._hang_up()
                return
            if events & (libvirt.VIR_STREAM_EVENT_ERROR | libvirt.VIR_STREAM_EVENT_HANGUP):
                self._hang_up()

    def _hang_up(self) -> None:
        self._closed = True
        with contextlib.suppress(libvirt.libvirtError):
            self._stream.eventRemoveCallback()
        self._out.put(b"")

    def read(self, timeout: float = 0.5) -> bytes | None:
        """What the guest printed; None when nothing came within `timeout`, b"" at the end."""
        try:
            return self._out.get(timeout=timeout)
        except queue.Empty:
            return None

    def write(self, data: bytes) -> None:
        with self._lock:
            if self._closed:
                raise BackendError("the serial console is closed")
            try:
                while data:
                    sent = self._stream.send(data)
                    if sent == -2:
                        continue  # the buffer is full: try again
                    data = data[sent:]
            except libvirt.libvirtError as exc:
                raise BackendError(f"serial console: {exc.get_error_message()}") from None

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            with contextlib.suppress(libvirt.libvirtError):
                self._stream.eventRemoveCallback()
            with contextlib.suppress(libvirt.libvirtError):
                self._stream.abort()
        self._out.put(b"")
