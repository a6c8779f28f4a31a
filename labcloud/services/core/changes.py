"""Change notices for long-running front ends (the TUI): a store version that moves when
any process commits, and libvirt's lifecycle events, from the local node and every remote
node. Neither reads a row or asks a VM."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

from labcloud.db.changes import ChangeCounter
from labcloud.errors import LabError
from labcloud.services.core.context import ServiceContext
from labcloud.services.core.interfaces import Hypervisor


class ChangeFeed:
    def __init__(
        self,
        ctx: ServiceContext,
        remote: Callable[[], list[tuple[str, Hypervisor]]] | None = None,
    ) -> None:
        self.ctx = ctx
        # Every remote node's libvirt (lab.py wires the node service): events flow back.
        self.remote = remote

    @cached_property
    def _counter(self) -> ChangeCounter:
        return ChangeCounter(self.ctx.store.path)

    def version(self) -> int:
        """Moves whenever anything commits to the store, from any process."""
        return self._counter.version()

    def watch_domains(self, notify: Callable[[str, str], None]) -> str:
        """Call `notify(server_id, state)` on every lifecycle event of a labcloud domain,
        on this machine and on every remote node that answers.

        Returns "" when watching everything, else the one-line reasons it cannot (libvirt
        down here, a node down; the node broker marks such a node down in the store)."""
        problems: list[str] = []
        try:
            self.ctx.hypervisor.add_listener(notify)
        except LabError as exc:
            problems.append(exc.one_line())
        for name, hypervisor in self.remote() if self.remote else []:
            try:
                hypervisor.add_listener(notify)
            except LabError as exc:
                problems.append(f"node {name}: {exc.one_line()}")
        return "; ".join(problems)
