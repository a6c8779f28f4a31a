"""A cold resize: a server gets another flavor's vCPUs, RAM and (larger) root disk.

Nova's resize copies the server to a new host and asks for a confirmation; on one node
labcloud does the simple thing: stop the guest, record the new flavor, define the domain
again from the store, start it, and grow the root disk live (the guest sees it grow).
A server that was stopped is left stopped. task_state "resizing" marks a resize under
way, so one killed midway is finished by the next `server resize` to the same flavor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labcloud.db.models import Flavor, Server, utcnow
from labcloud.errors import Conflict, NotFound, UsageError
from labcloud.services.core import charge, find, record_event

if TYPE_CHECKING:
    from labcloud.services.compute.host import ResizeHost

GIB = 1024**3
RESIZING = "resizing"


def resize(compute: ResizeHost, ref: str, flavor_ref: str, timeout: float | None = None) -> Server:
    """`timeout`: how long the guest gets to shut down cleanly (default: the site's
    shutdown_timeout), as for `server stop`."""
    ctx = compute.ctx
    server = compute.get(ref)
    with ctx.store.read() as s:
        flavor = find(s, Flavor, flavor_ref, "flavor")
    resuming = server.task_state == RESIZING and server.flavor_id == flavor.id
    if not resuming:
        _check(server, flavor)
    if server.flavor_id == flavor.id and not resuming:
        return server  # already that flavor: nothing to do
    was_running = server.status == "ACTIVE" or resuming
    old_disk = server.disk
    with ctx.store.write() as s:
        row = s.get(Server, server.id)
        if row is None:
            raise NotFound(f"server {server.name} was deleted meanwhile")
        # The new flavor is claimed with the quota check, in one write: a resize counts
        # only the difference, and racing creates see it at once. A resize killed after
        # this is resumed by the next resize to the same flavor.
        charge(ctx, s, row.project_id, cores=flavor.vcpus - row.vcpus, ram=flavor.ram - row.ram)
        row.flavor_id, row.flavor_name = flavor.id, flavor.name
        row.vcpus, row.ram, row.disk = flavor.vcpus, flavor.ram, flavor.disk
        row.task_state = RESIZING
        row.updated_at = utcnow()
        record_event(s, "server", row.id, row.name, f"resize to {flavor.name} started")
    compute.shutdown_domain(server.id, timeout, server.node)
    compute.redefine(server.id)
    root_is_volume = compute.devices(server).root
    grow = flavor.disk > old_disk and not root_is_volume
    if was_running or grow:
        compute.start_domain(server.id, server.node)
        compute.hypervisor_on(server.node).wait_for(server.id, {"running"}, 60)
        if grow:
            compute.hypervisor_on(server.node).block_resize(server.id, "vda", flavor.disk * GIB)
        if not was_running:
            compute.shutdown_domain(server.id, timeout, server.node)
    with ctx.store.write() as s:
        row = s.get(Server, server.id)
        assert row is not None
        row.task_state = None
        row.updated_at = utcnow()
        record_event(s, "server", row.id, row.name, f"resized to {flavor.name}")
    return compute.settle(server.id, "resized")


def _check(server: Server, flavor: Flavor) -> None:
    if server.task_state:
        raise Conflict(f"server {server.name} is busy ({server.task_state})", "wait for it")
    if server.status not in ("ACTIVE", "SHUTOFF"):
        raise Conflict(
            f"cannot resize server {server.name} while it is {server.status}",
            "resize needs it ACTIVE or SHUTOFF",
        )
    if flavor.disk < server.disk:
        raise UsageError(
            f"flavor {flavor.name}'s disk ({flavor.disk} GiB) is smaller than server "
            f"{server.name}'s ({server.disk} GiB)",
            "a root disk never shrinks: pick a flavor with at least as much disk",
        )
