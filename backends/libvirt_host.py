"""One Host owns the libvirt connection and the event thread; Guest wraps one domain.

It only ever acts on domains named `labcloud-<uuid>` whose libvirt UUID is that uuid:
what labcloud made. Anything else on the host is invisible to it.
"""

from __future__ import annotations

import contextlib
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import libvirt
from labcloud.backends.domain_config import METADATA_NS, metadata_uuid

from labcloud.errors import BackendError, NotFound, Timeout

if TYPE_CHECKING:
    from labcloud.backends.serial_console import ConsoleStream

DOMAIN_PREFIX = "labcloud-"

_STATES: dict[int, str] = {
    libvirt.VIR_DOMAIN_NOSTATE: "nostate",
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "running",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "running",  # being shut down: still running
    libvirt.VIR_DOMAIN_SHUTOFF: "shutoff",
    libvirt.VIR_DOMAIN_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "pmsuspended",
}

_UNDEFINE_FLAGS = (
    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
    | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
)

_event_loop_lock = threading.Lock()
_event_loop_started = False


def _ensure_event_loop() -> None:
    """libvirt's default event implementation, run by one daemon thread per process."""
    global _event_loop_started
    with _event_loop_lock:
        if _event_loop_started:
            return
        libvirt.virEventRegisterDefaultImpl()

        def run() -> None:
            while True:
                libvirt.virEventRunDefaultImpl()

        threading.Thread(target=run, name="libvirt-events", daemon=True).start()
        _event_loop_started = True


def _silence(_ctx: object, _err: object) -> None:
    """libvirt prints every error to stderr by default; ours become one-line messages."""


def domain_name(uuid: str) -> str:
    return f"{DOMAIN_PREFIX}{uuid}"


@dataclass(frozen=True)
class DomainState:
    uuid: str
    state: str  # running, paused, shutoff, crashed, pmsuspended, nostate
    reason: int
    saved: bool  # a managed-save image exists (Nova's SUSPENDED)


LifecycleListener = Callable[[str, str], None]  # (uuid, state)


class Host:
    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._conn: libvirt.virConnect | None = None
        self._lock = threading.Lock()
        self._listeners: list[LifecycleListener] = []
        self._changed = threading.Condition()

    # -- connection -----------------------------------------------------------------
    @property
    def conn(self) -> libvirt.virConnect:
        with self._lock:
            if self._conn is None:
                _ensure_event_loop()
                libvirt.registerErrorHandler(_silence, None)
                try:
                    conn = libvirt.open(self.uri)
                except libvirt.libvirtError as exc:
                    raise BackendError(
                        f"cannot connect to libvirt at {self.uri}: {_msg(exc)}",
                        "is libvirtd running? `make run` starts it, or run `libvirtd -d`",
                    ) from None
                conn.setKeepAlive(5, 3)
                conn.domainEventRegisterAny(
                    None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_lifecycle, None
                )
                conn.domainEventRegisterAny(
                    None, libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, self._on_device, None
                )
                self._conn = conn
            return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(libvirt.libvirtError):
                    self._conn.close()
                self._conn = None

    def add_listener(self, listener: LifecycleListener) -> None:
        self._listeners.append(listener)
        _ = self.conn

    def _on_lifecycle(
        self, _conn: object, dom: libvirt.virDomain, _event: int, _detail: int, _opaque: object
    ) -> None:
        name = dom.name()
        if not name.startswith(DOMAIN_PREFIX):
            return
        uuid = dom.UUIDString()
        try:
            state = _STATES.get(dom.state()[0], "nostate")
        except libvirt.libvirtError:
            state = "missing"
        for listener in list(self._listeners):
            listener(uuid, state)
        with self._changed:
            self._changed.notify_all()

    def _on_device(self, _conn: object, _dom: object, _alias: str, _opaque: object) -> None:
        with self._changed:
            self._changed.notify_all()

    # -- queries --------------------------------------------------------------------
    def domain_states(self) -> dict[str, DomainState]:
        """Every labcloud domain's state in one round trip, however many there are."""
        try:
            stats = self.conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE)
        except libvirt.libvirtError as exc:
            raise BackendError(f"libvirt: {_msg(exc)}") from None
        out: dict[str, DomainState] = {}
        for dom, values in stats:
            name = dom.name()
            uuid = dom.UUIDString()
            if name != domain_name(uuid):
                continue
            state = _STATES.get(values.get("state.state", 0), "nostate")
            reason = int(values.get("state.reason", 0))
            saved = state == "shutoff" and reason == libvirt.VIR_DOMAIN_SHUTOFF_SAVED
            out[uuid] = DomainState(uuid, state, reason, saved)
        return out

    def state(self, uuid: str) -> DomainState | None:
        dom = self.find_domain(uuid)
        if dom is None:
            return None
        try:
            state, reason = dom.state()
            saved = bool(dom.hasManagedSaveImage())
        except libvirt.libvirtError:
            return None
        name = _STATES.get(state, "nostate")
        return DomainState(uuid, name, reason, saved and name == "shutoff")

    def exists(self, uuid: str) -> bool:
        return self.find_domain(uuid) is not None

    # -- actions --------------------------------------------------------------------
    def define(self, xml: str) -> None:
        self._call("define the domain", lambda: self.conn.defineXML(xml))

    def start(self, uuid: str) -> None:
        dom = self._get(uuid)
        self._call("start the domain", dom.create)

    def shutdown(self, uuid: str) -> None:
        dom = self._get(uuid)
        self._call("shut down the domain", dom.shutdown)

    def destroy(self, uuid: str) -> None:
        dom = self.find_domain(uuid)
        if dom is not None and dom.isActive():
            self._call("power off the domain", dom.destroy)

    def reboot(self, uuid: str) -> None:
        dom = self._get(uuid)
        self._call(
            "reboot the domain", lambda: dom.reboot(libvirt.VIR_DOMAIN_REBOOT_ACPI_POWER_BTN)
        )

    def pause(self, uuid: str) -> None:
        dom = self._get(uuid)
        self._call("pause the domain", dom.suspend)

    def unpause(self, uuid: str) -> None:
        dom = self._get(uuid)
        self._call("unpause the domain", dom.resume)

    def managed_save(self, uuid: str) -> None:
        dom = self._get(uuid)
        self._call("suspend the domain to disk", dom.managedSave)

    def undefine(self, uuid: str) -> None:
        dom = self.find_domain(uuid)
        if dom is None:
            return
        self._check_metadata(dom, uuid)
        if dom.isActive():
            self._call("power off the domain", dom.destroy)
        self._call("undefine the domain", lambda: dom.undefineFlags(_UNDEFINE_FLAGS))

    def attach_device(self, uuid: str, xml: str) -> None:
        """Hot-plug into a running domain and its persistent definition; cold-plug otherwise."""
        dom = self._get(uuid)
        self._call("attach the device", lambda: dom.attachDeviceFlags(xml, _affect(dom)))

    def detach_device(self, uuid: str, xml: str, timeout: float) -> None:
        """Unplug a device; on a running domain, wait until the guest has released it.

        libvirt's detach only asks the guest (ACPI hot-unplug); the device is gone once
        the DEVICE_REMOVED event fires, so this waits for the live XML to lose it.
        """
        dom = self._get(uuid)
        live = bool(dom.isActive())
        key = _device_key(xml)
        if not self._has_device(dom, key, live):
            if live and self._has_device(dom, key, False):
                self._call(
                    "detach the device",
                    lambda: dom.detachDeviceFlags(xml, libvirt.VIR_DOMAIN_AFFECT_CONFIG),
                )
            return
        self._call("detach the device", lambda: dom.detachDeviceFlags(xml, _affect(dom)))
        if not live:
            return
        deadline = time.monotonic() + timeout
        while self._has_device(dom, key, True):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Timeout(
                    f"the guest did not release the device in {timeout:g} s",
                    "the guest may not support hot-unplug; stop the server and retry",
                )
            with self._changed:
                self._changed.wait(min(remaining, 0.5))

    def device_present(self, uuid: str, xml: str) -> bool:
        """Whether the running (or else the defined) domain has this device."""
        dom = self._get(uuid)
        return self._has_device(dom, _device_key(xml), bool(dom.isActive()))

    def block_resize(self, uuid: str, target: str, size_bytes: int) -> None:
        """Grow a running domain's disk (by target dev, e.g. vdb); the guest sees it live."""
        dom = self._get(uuid)
        self._call(
            f"resize disk {target}",
            lambda: dom.blockResize(target, size_bytes, libvirt.VIR_DOMAIN_BLOCK_RESIZE_BYTES),
        )

    @staticmethod
    def _has_device(dom: libvirt.virDomain, key: tuple[str, str], live: bool) -> bool:
        flags = 0 if live else libvirt.VIR_DOMAIN_XML_INACTIVE
        try:
            root = ET.fromstring(dom.XMLDesc(flags))
        except libvirt.libvirtError:
            return False
        kind, value = key
        if kind == "disk":
            return any(t.get("dev") == value for t in root.iterfind("./devices/disk/target"))
        macs = root.iterfind("./devices/interface/mac")
        return any((m.get("address") or "").lower() == value for m in macs)

    def wait_for(self, uuid: str, states: set[str], timeout: float) -> DomainState | None:
        """Wait on lifecycle events (with a slow re-check) until the domain is in `states`."""
        deadline = time.monotonic() + timeout
        while True:
            current = self.state(uuid)
            now_state = current.state if current else "missing"
            if now_state in states:
                return current
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Timeout(
                    f"domain {uuid} is still {now_state} after {timeout:g} s",
                    "raise --timeout, or check the console log",
                )
            with self._changed:
                self._changed.wait(min(remaining, 0.5))

    def open_console(self, uuid: str) -> ConsoleStream:
        """The running domain's serial console, to read and type into."""
        from labcloud.backends.serial_console import ConsoleStream

        dom = self._get(uuid)
        return ConsoleStream(self.conn, dom)

    # -- helpers --------------------------------------------------------------------
    def find_domain(self, uuid: str) -> libvirt.virDomain | None:
        try:
            dom = self.conn.lookupByUUIDString(uuid)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise BackendError(f"libvirt: {_msg(exc)}") from None
        return dom if dom.name() == domain_name(uuid) else None

    def _get(self, uuid: str) -> libvirt.virDomain:
        dom = self.find_domain(uuid)
        if dom is None:
            raise NotFound(
                f"no libvirt domain for server {uuid}",
                "it was undefined outside labcloud; `labcloud doctor` shows drift",
            )
        return dom

    def _check_metadata(self, dom: libvirt.virDomain, uuid: str) -> None:
        try:
            xml = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, METADATA_NS)
        except libvirt.libvirtError:
            xml = ""
        if metadata_uuid(xml) != uuid:
            raise BackendError(f"domain {dom.name()} lacks labcloud's metadata; not touching it")

    @staticmethod
    def _call(what: str, fn: Callable[[], object]) -> None:
        try:
            fn()
        except libvirt.libvirtError as exc:
            raise BackendError(f"libvirt could not {what}: {_msg(exc)}") from None


def _affect(dom: libvirt.virDomain) -> int:
    flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
    if dom.isActive():
        flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
    return flags


def _device_key(xml: str) -> tuple[str, str]:
    """What identifies a device in a domain: a disk's target dev, or a NIC's MAC."""
    el = ET.fromstring(xml)
    if el.tag == "disk":
        target = el.find("target")
        return ("disk", target.get("dev", "") if target is not None else "")
    mac = el.find("mac")
    return ("interface", (mac.get("address", "") if mac is not None else "").lower())


def _msg(exc: libvirt.libvirtError) -> str:
    text = exc.get_error_message() or str(exc)
    return " ".join(text.split())
