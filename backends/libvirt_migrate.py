"""Moving a domain between two nodes' libvirt, driven by labcloud (not peer-to-peer):
labcloud holds both connections, and the memory stream goes straight from the source
QEMU to the destination's, over the management network.

With shared storage only the definition (cold) or the memory (live) moves; without it,
a live migration carries the disks' top layers too (see migrate()). libvirt cannot
recognise every shared filesystem, so VIR_MIGRATE_UNSAFE says what labcloud checked
itself (the node probe's shared marker).
"""

from __future__ import annotations

import libvirt
from labcloud.backends.libvirt_host import Host, _msg

from labcloud.errors import BackendError, NotFound

_COMMON = (
    libvirt.VIR_MIGRATE_PERSIST_DEST
    | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
    | libvirt.VIR_MIGRATE_UNSAFE
)


def migrate(
    src: Host,
    dst: Host,
    uuid: str,
    dest_address: str,
    live: bool,
    copy_disks: list[str] | None = None,
) -> None:
    """Live: the running guest moves (memory copied while it runs). Cold: a shut-off
    domain's definition moves (VIR_MIGRATE_OFFLINE).

    copy_disks (live only): no shared storage, so these disks' contents move too, over
    NBD from the source QEMU to the destination's (the host of the migration URI).
    VIR_MIGRATE_NON_SHARED_INC copies only each disk's top layer: the caller has made
    the same overlay on the destination already, on top of the same cached image
    (libvirt does not pre-create a disk for an incremental copy). Disks not listed
    (the read-only seed CD-ROM) must be at the same path there already.
    """
    dom = src.find_domain(uuid)
    if dom is None:
        raise NotFound(f"no libvirt domain for server {uuid} on the source node")
    if live:
        flags = _COMMON | libvirt.VIR_MIGRATE_LIVE
        params: dict[str, object] = {libvirt.VIR_MIGRATE_PARAM_URI: f"tcp://{dest_address}"}
        if copy_disks:
            flags |= libvirt.VIR_MIGRATE_NON_SHARED_INC
            params[libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS] = list(copy_disks)
    else:
        flags = _COMMON | libvirt.VIR_MIGRATE_OFFLINE
        params = {}
    try:
        dom.migrate3(dst.conn, params, flags)
    except libvirt.libvirtError as exc:
        raise BackendError(f"libvirt could not migrate the domain: {_msg(exc)}") from None
