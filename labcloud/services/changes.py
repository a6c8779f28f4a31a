"""Change notices for long-running front ends (the TUI): a store version that moves when
any process commits, and libvirt's lifecycle events. Neither reads a row or asks a VM."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

from labcloud.db.changes import ChangeCounter
from labcloud.errors import LabError
from labcloud.services.context import ServiceContext


class ChangeFeed:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    @cached_property
    def _counter(self) -> ChangeCounter:
        return ChangeCounter(self.ctx.store.path)

    def version(self) -> int:
        """Moves whenever anything commits to the store, from any process."""
        return self._counter.version()

    def watch_domains(self, notify: Callable[[str, str], None]) -> str:
        """Call `notify(server_id, state)` on every lifecycle event of a labcloud domain.

        Returns "" when watching, else the one-line reason it cannot (libvirt down)."""
        try:
            self.ctx.hypervisor.add_listener(notify)
        except LabError as exc:
            return exc.one_line()
        return ""
