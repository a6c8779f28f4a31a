"""A one-line progress display on a terminal; silent when stderr is not a TTY."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, title: str, enabled: bool = True) -> None:
        self.title = title
        self.enabled = enabled and sys.stderr.isatty()
        self.started = time.monotonic()

    def __call__(self, step: str) -> None:
        if self.enabled:
            took = time.monotonic() - self.started
            sys.stderr.write(f"\r\x1b[K{self.title}: {step} ({took:.1f} s)")
            sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
