"""Moving a domain between two nodes' libvirt, driven by labcloud (not peer-to-peer):
labcloud holds both connections, and the memory stream goes straight from the source
QEMU to the destination's, over the management network.

Instance disks live on storage both nodes see at the same path, so only the definition
(cold) or the memory (live) moves. libvirt cannot recognise every shared filesystem, so
VIR_MIGRATE_UNSAFE says what labcloud checked itself (the node probe's shared marker).
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


def migrate(src: Host, dst: Host, uuid: str, dest_address: str, live: bool) -> None:
    """Live: the running guest moves (memory copied while it runs). Cold: a shut-off
    domain's definition moves (VIR_MIGRATE_OFFLINE)."""
    dom = src._find(uuid)
    if dom is None:
        raise NotFound(f"no libvirt domain for server {uuid} on the source node")
    if live:
        flags = _COMMON | libvirt.VIR_MIGRATE_LIVE
        params = {libvirt.VIR_MIGRATE_PARAM_URI: f"tcp://{dest_address}"}
    else:
        flags = _COMMON | libvirt.VIR_MIGRATE_OFFLINE
        params = {}
    try:
        dom.migrate3(dst.conn, params, flags)
    except libvirt.libvirtError as exc:
        raise BackendError(f"libvirt could not migrate the domain: {_msg(exc)}") from None
