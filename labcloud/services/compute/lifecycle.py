"""A server's lifecycle (start, stop, reboot, pause, suspend and back) and its serial
console."""

from __future__ import annotations

import re
import time

from labcloud.db.models import Server
from labcloud.errors import Conflict, NotFound, Timeout, Unavailable, UsageError
from labcloud.services.compute.base import ComputeBase
from labcloud.services.compute.models import (
    ALLOWED_FROM,
)
from labcloud.services.core import (
    SerialConsole,
    writes,
)


class LifecycleOps(ComputeBase):
    # -- lifecycle ------------------------------------------------------------------
    @writes
    def start(self, ref: str, timeout: float = 60.0) -> Server:
        server = self._ready_for("start", ref)
        self.start_domain(server.id, server.node)
        self.hypervisor_on(server.node).wait_for(server.id, {"running"}, timeout)
        return self.settle(server.id, "started")

    def start_domain(self, server_id: str, node: str = "local") -> None:
        """Start the domain, then let parts fix what libvirt resets on start (libvirt brings
        every tap up; a disabled port's tap must stay down)."""
        self.hypervisor_on(node).start(server_id)
        for part in self.parts:
            started = getattr(part, "started", None)
            if started is not None:
                started(server_id)

    @writes
    def stop(self, ref: str, timeout: float | None = None) -> Server:
        """Graceful ACPI shutdown; powered off when the guest has not stopped in time."""
        server = self._ready_for("stop", ref)
        self.shutdown_domain(server.id, timeout, server.node)
        return self.settle(server.id, "stopped")

    def shutdown_domain(self, server_id: str, timeout: float | None, node: str) -> None:
        hv = self.hypervisor_on(node)
        state = hv.state(server_id)
        if state is None or state.state == "shutoff":
            return
        grace = self.ctx.config.site.shutdown_timeout if timeout is None else timeout
        if state.state == "running" and grace > 0:
            hv.shutdown(server_id)
            try:
                hv.wait_for(server_id, {"shutoff", "missing"}, grace)
                return
            except Timeout:
                pass  # as Nova does: a guest that ignores ACPI is powered off
        hv.destroy(server_id)
        hv.wait_for(server_id, {"shutoff", "missing"}, 30)

    @writes
    def reboot(self, ref: str, hard: bool = False, timeout: float | None = None) -> Server:
        """Soft: a clean shutdown then start. Hard: power off then start."""
        server = self._ready_for("reboot", ref)
        self.shutdown_domain(server.id, 0 if hard else timeout, server.node)
        self.start_domain(server.id, server.node)
        self.hypervisor_on(server.node).wait_for(server.id, {"running"}, 60)
        return self.settle(server.id, "hard rebooted" if hard else "rebooted")

    @writes
    def pause(self, ref: str) -> Server:
        server = self._ready_for("pause", ref)
        self.hypervisor_on(server.node).pause(server.id)
        return self.settle(server.id, "paused")

    @writes
    def unpause(self, ref: str) -> Server:
        server = self._ready_for("unpause", ref)
        self.hypervisor_on(server.node).unpause(server.id)
        return self.settle(server.id, "unpaused")

    @writes
    def suspend(self, ref: str) -> Server:
        """Nova's suspend: the guest's memory is saved to disk and the domain stops."""
        server = self._ready_for("suspend", ref)
        self.hypervisor_on(server.node).managed_save(server.id)
        return self.settle(server.id, "suspended")

    @writes
    def resume(self, ref: str, timeout: float = 60.0) -> Server:
        server = self._ready_for("resume", ref)
        self.start_domain(server.id, server.node)  # restores the managed-save image
        self.hypervisor_on(server.node).wait_for(server.id, {"running"}, timeout)
        return self.settle(server.id, "resumed")

    def _ready_for(self, action: str, ref: str) -> Server:
        server = self.get(ref)
        if server.task_state:
            raise Conflict(
                f"server {server.name} is busy ({server.task_state})", "wait for it to finish"
            )
        if server.status == "UNKNOWN":  # its node did not answer just now: fail fast
            raise Unavailable(
                f"cannot {action} server {server.name}: {server.fault}",
                f"`labcloud node show {server.node}` says when it answered last",
            )
        allowed = ALLOWED_FROM[action]
        if server.status not in allowed:
            raise Conflict(
                f"cannot {action} server {server.name} while it is {server.status}",
                f"{action} needs it {' or '.join(allowed)}",
            )
        return server

    def settle(self, server_id: str, what: str) -> Server:
        self.sync([server_id], event=what)
        with self.ctx.store.read() as s:
            row = s.get(Server, server_id)
        if row is None:
            raise NotFound(f"server {server_id} vanished")
        return row

    # -- console --------------------------------------------------------------------
    def open_console(self, ref: str) -> SerialConsole:
        """The interactive serial console of a running server (close it when done)."""
        server = self.get(ref)
        if server.power_state not in ("RUNNING", "PAUSED"):
            raise Conflict(
                f"server {server.name} is {server.status}: its console is not live",
                f"start it first: `labcloud server start {server.name}`",
            )
        return self.hypervisor_on(server.node).open_console(server.id)

    def console_log(self, ref: str, lines: int = 0) -> str:
        server = self.get(ref, sync=False)
        return self._agent(server.node).tail(str(self.console_path(server.id)), lines)

    def wait_console(self, ref: str, pattern: str, timeout: float) -> str:
        """Wait until the console log has a line matching `pattern`; returns that line."""
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise UsageError(f"invalid pattern {pattern!r}: {exc}") from None
        server = self.get(ref, sync=False)
        path = str(self.console_path(server.id))
        deadline = time.monotonic() + timeout
        while True:
            for line in self._agent(server.node).tail(path, 0).splitlines():
                if regex.search(line):
                    return line
            if time.monotonic() > deadline:
                raise Timeout(
                    f"{server.name}'s console showed no line matching {pattern!r} in {timeout:g} s",
                    "see `labcloud console log`",
                )
            time.sleep(0.25)
