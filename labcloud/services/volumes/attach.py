"""Attaching and detaching volumes to servers (Nova's os-volume_attachments).

A running server gets the disk hot-plugged (and kept in its definition); a stopped one
only in its definition, so the guest sees it at the next boot. Both are journalled:
attach (attaching -> in-use) and detach (detaching -> available).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from labcloud.db.models import Server, utcnow
from labcloud.db.volume_models import Volume
from labcloud.errors import Conflict, NotFound, Timeout
from labcloud.services.core import OperationHandle, find, record_event
from labcloud.services.volumes.devices import choose_device
from labcloud.services.volumes.export import add_export, drop_export, needs_export, start_export

if TYPE_CHECKING:
    from labcloud.services.volumes.host import VolumeHost

# Nova allows attach and detach in these server states.
ATTACH_STATES = ("ACTIVE", "PAUSED", "SHUTOFF")


def _server(svc: VolumeHost, s: Session, ref: str) -> Server:
    return find(s, Server, ref, "server", project_id=svc.ctx.project.id)


def used_devices(s: Session, server_id: str) -> set[str]:
    return {
        d
        for d in s.exec(select(Volume.device).where(Volume.server_id == server_id))
        if d is not None
    }


def _check_server(server: Server, action: str) -> None:
    if server.task_state:
        raise Conflict(f"server {server.name} is busy ({server.task_state})", "wait for it")
    if server.status not in ATTACH_STATES:
        raise Conflict(
            f"cannot {action} a volume while server {server.name} is {server.status}",
            f"it must be {' or '.join(ATTACH_STATES)}",
        )


def attach(svc: VolumeHost, server_ref: str, volume_ref: str, device: str | None) -> Volume:
    with svc.ctx.store.read() as s:
        server = _server(svc, s, server_ref)
        vol = svc.find(s, volume_ref)
        _check_available(svc, vol, server)
        _check_server(server, "attach")
        chosen = choose_device(used_devices(s, server.id), device)
    remote = needs_export(svc, vol, server)

    def allocate(s: Session) -> None:
        row = s.get(Volume, vol.id)
        if row is None:
            raise NotFound(f"volume {vol.name} was deleted meanwhile")
        _check_available(svc, row, server)
        row.status, row.server_id, row.device = "attaching", server.id, chosen
        row.boot_index, row.delete_on_termination = None, False
        row.attached_at = row.updated_at = utcnow()
        record_event(s, "volume", row.id, row.name, f"attach to {server.name} as {chosen}")
        if remote:
            add_export(svc, s, row, server)

    detail = {"name": vol.name, "server_id": server.id, "device": chosen, "export": remote}
    try:
        with svc.journal.begin("volume.attach", vol.id, allocate, **detail) as op:
            vol.server_id, vol.device = server.id, chosen
            try:
                if remote:
                    op.step("export")
                    start_export(svc, vol)
                xml = svc.ctx.device_builder("disk", svc.disk_spec(vol))
                op.step("attach")
                svc.ctx.hypervisor_for(server.node).attach_device(server.id, xml)
                op.step("finish")
            except BaseException as exc:
                settle(svc, op, vol.id, attached=False, note=f"attach failed: {exc}")
                raise
            return settle(svc, op, vol.id, attached=True, note=f"in-use on {server.name}")
    except IntegrityError:
        raise Conflict(f"device {chosen} was taken meanwhile on {server.name}; retry") from None


def _check_available(svc: VolumeHost, vol: Volume, server: Server) -> None:
    if vol.server_id:
        where = svc.server_names().get(vol.server_id, vol.server_id)
        raise Conflict(
            f"volume {vol.name} is {vol.status} on server {where}",
            "detach it first; a volume attaches to one server at a time",
        )
    if vol.status != "available":
        raise Conflict(f"volume {vol.name} is {vol.status}, not available")


def detach(svc: VolumeHost, server_ref: str, volume_ref: str, timeout: float) -> Volume:
    with svc.ctx.store.read() as s:
        server = _server(svc, s, server_ref)
        vol = svc.find(s, volume_ref)
    _check_detachable(vol, server)
    _check_server(server, "detach")

    def allocate(s: Session) -> None:
        row = s.get(Volume, vol.id)
        if row is None:
            raise NotFound(f"volume {vol.name} was deleted meanwhile")
        _check_detachable(row, server)
        row.status, row.updated_at = "detaching", utcnow()
        record_event(s, "volume", row.id, row.name, f"detach from {server.name}")

    detail = {"name": vol.name, "server_id": server.id, "device": vol.device}
    with svc.journal.begin("volume.detach", vol.id, allocate, **detail) as op:
        xml = svc.ctx.device_builder("disk", svc.disk_spec(vol))
        try:
            op.step("detach")
            unplug(svc, server.id, xml, timeout)
            op.step("finish")
        except Timeout:
            settle(svc, op, vol.id, attached=True, note="detach timed out")
            raise Timeout(
                f"server {server.name} did not release volume {vol.name} in {timeout:g} s; "
                "it stays attached",
                "the guest may not support hot-unplug; stop the server and retry",
            ) from None
        except BaseException as exc:
            settle(svc, op, vol.id, attached=True, note=f"detach failed: {exc}")
            raise
        return settle(svc, op, vol.id, attached=False, note=f"detached from {server.name}")


def _check_detachable(vol: Volume, server: Server) -> None:
    if vol.server_id != server.id:
        raise Conflict(f"volume {vol.name} is not attached to server {server.name}")
    if vol.boot_index == 0:
        raise Conflict(
            f"volume {vol.name} is server {server.name}'s root disk",
            "it is detached when the server is deleted",
        )
    if vol.status != "in-use":
        raise Conflict(f"volume {vol.name} is {vol.status}; it cannot be detached now")


def unplug(svc: VolumeHost, server_id: str, xml: str, timeout: float) -> None:
    """Detach from the domain; a domain that is gone has nothing to release."""
    with contextlib.suppress(NotFound):
        svc.ctx.server_hypervisor(server_id).detach_device(server_id, xml, timeout)


def settle(svc: VolumeHost, op: OperationHandle, vid: str, *, attached: bool, note: str) -> Volume:
    """The end of an attach or detach, by its own process or by recovery."""
    if not attached:
        drop_export(svc, vid)  # a detached volume is exported no more
    with svc.ctx.store.write() as s:
        row = s.get(Volume, vid)
        if row is None:
            raise NotFound(f"volume {vid} vanished")
        if attached:
            row.status = "in-use"
        else:
            row.status, row.server_id, row.device, row.attached_at = "available", None, None, None
        row.updated_at = utcnow()
        record_event(s, "volume", vid, row.name, note[:200])
        ok = note.startswith(("in-use", "detached"))
        op.finish(s, "done" if ok else "rolled_back")
        s.flush()
        s.expunge(row)
    return row
