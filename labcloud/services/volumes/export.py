"""Volumes for servers on nodes that cannot see the storage node's files (Cinder's
export to a compute node, with NBD where Cinder would use iSCSI).

The storage node (local) exports the one volume with qemu-nbd, on its management address
only, under the export name `volume-<id>` and a port taken from NBD_PORTS and recorded in
the store; the server's domain gets a network disk. The export stops when the volume is
detached (or its server deleted), and a start brings back the exports that should run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import Session, select

from labcloud.db.export_models import VolumeExport
from labcloud.db.models import Server
from labcloud.db.volume_models import Volume
from labcloud.errors import Conflict
from labcloud.services.core import record_event

if TYPE_CHECKING:
    from labcloud.services.volumes.host import VolumeHost

NBD_PORTS = range(10809, 10909)  # 10809 is NBD's own port
LOCAL = "local"


def export_name(volume_id: str) -> str:
    return f"volume-{volume_id}"


def needs_export(svc: VolumeHost, vol: Volume, server: Server) -> bool:
    """Whether the server's node reaches the volume only over the network. A node that
    shares local's storage opens a file volume at the same path, as before."""
    if server.node == LOCAL:
        return False
    backend = svc.backend(vol.volume_type)
    path = str(backend.disk_spec(vol.location)["path"])
    if backend.kind == "file" and svc.ctx.agent_for(server.node).exists(path):
        return False
    if svc.ctx.config.networks.local_ip is None:
        raise Conflict(
            f"volume {vol.name} is on the storage node local; server {server.name} runs on "
            f"node {server.node}, which does not share its storage, and node local has no "
            "management address to export it on",
            "set [networks] local_ip in lab.toml to node local's address on the nodes' network",
        )
    return True


def add_export(svc: VolumeHost, s: Session, vol: Volume, server: Server) -> VolumeExport:
    """Record the export, with the lowest free port, inside the attach's write transaction
    (the port column is unique, so a racing attach cannot take the same one)."""
    taken = set(s.exec(select(VolumeExport.port)))
    port = next((p for p in NBD_PORTS if p not in taken), None)
    if port is None:
        raise Conflict(
            f"no free NBD port for volume {vol.name}: ports {NBD_PORTS.start}-"
            f"{NBD_PORTS.stop - 1} are all exporting",
            "detach a volume from a server on another node first",
        )
    address = svc.ctx.config.networks.local_ip
    assert address is not None  # needs_export checked it
    row = VolumeExport(
        volume_id=vol.id,
        node=server.node,
        export_name=export_name(vol.id),
        address=address,
        port=port,
    )
    s.add(row)
    record_event(s, "volume", vol.id, vol.name, f"exported over NBD on {address}:{port}")
    return row


def start_export(svc: VolumeHost, vol: Volume) -> None:
    with svc.ctx.store.read() as s:
        row = s.get(VolumeExport, vol.id)
    if row is None:
        return
    source = svc.backend(vol.volume_type).disk_spec(vol.location)
    svc.exporter.start(
        {
            "name": row.export_name,
            "path": source["path"],
            "format": source.get("file_format", "raw"),
            "address": row.address,
            "port": row.port,
        }
    )


def drop_export(svc: VolumeHost, volume_id: str) -> None:
    """Stop the volume's export and forget it; nothing to do when it has none."""
    with svc.ctx.store.read() as s:
        row = s.get(VolumeExport, volume_id)
    if row is None:
        return
    svc.exporter.stop(row.export_name)
    with svc.ctx.store.write() as s:
        row = s.get(VolumeExport, volume_id)
        if row is not None:
            s.delete(row)


def network_spec(svc: VolumeHost, volume_id: str) -> dict[str, object] | None:
    """The DiskConfig of an exported volume: a network disk on the export (qemu-nbd reads
    the volume's format, so the guest's QEMU sees raw data)."""
    with svc.ctx.store.read() as s:
        row = s.get(VolumeExport, volume_id)
    if row is None:
        return None
    return {
        "path": row.export_name,
        "file_format": "raw",
        "source_type": "network",
        "protocol": "nbd",
        "host": row.address,
        "port": row.port,
    }


def refuse_extend(svc: VolumeHost, vol: Volume) -> None:
    with svc.ctx.store.read() as s:
        row = s.get(VolumeExport, vol.id)
    if row is not None:
        raise Conflict(
            f"volume {vol.name} is exported over NBD to node {row.node}, and an export "
            "cannot grow under its server",
            "detach it, extend it, and attach it again",
        )


def reconcile(svc: VolumeHost) -> None:
    """At start: keep running the exports of attached volumes, and stop the others."""
    with svc.ctx.store.read() as s:
        rows = list(s.exec(select(VolumeExport)))
        vols = {r.volume_id: s.get(Volume, r.volume_id) for r in rows}
    if not rows and not svc.exporter.names():
        return
    wanted = set()
    for row in rows:
        vol = vols[row.volume_id]
        if vol is None or (vol.server_id is None and vol.status != "attaching"):
            drop_export(svc, row.volume_id)
            continue
        wanted.add(row.export_name)
        if vol.status == "in-use":  # an attach or detach in flight handles its own
            start_export(svc, vol)
    for name in svc.exporter.names():
        if name not in wanted:
            svc.exporter.stop(name)
