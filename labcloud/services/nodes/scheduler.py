"""Nova's filter scheduler, as pure logic: filter the nodes, weigh the rest, pick one.

Filters: enabled and up, the compute role, the availability zone, free vCPU/RAM/disk
(totals times the allocation ratios, minus what servers there already claim).
Weighers: spread (most free RAM first) or pack (least free RAM that still fits).
"""

from __future__ import annotations

from dataclasses import dataclass

from labcloud.errors import Conflict


@dataclass(frozen=True)
class Candidate:
    name: str
    enabled: bool
    up: bool
    roles: tuple[str, ...]
    zone: str
    vcpus: int  # totals, before allocation ratios
    ram_mb: int
    disk_gb: int
    vcpus_used: int = 0
    ram_used_mb: int = 0
    disk_used_gb: int = 0
    why_not: str = ""  # a reason set by the caller (e.g. "shared state_dir missing")


@dataclass(frozen=True)
class Demand:
    vcpus: int
    ram_mb: int
    disk_gb: int
    zone: str | None = None
    pinned: str | None = None  # admin's --node


@dataclass(frozen=True)
class Ratios:
    cpu: float = 4.0
    ram: float = 1.0
    disk: float = 1.0


def free(c: Candidate, ratios: Ratios) -> tuple[int, int, int]:
    """(vCPU, RAM MiB, disk GiB) still free on a node."""
    return (
        int(c.vcpus * ratios.cpu) - c.vcpus_used,
        int(c.ram_mb * ratios.ram) - c.ram_used_mb,
        int(c.disk_gb * ratios.disk) - c.disk_used_gb,
    )


def rejection(c: Candidate, d: Demand, ratios: Ratios) -> str | None:
    """Why a node cannot take the server, or None when it can."""
    if not c.enabled:
        return "disabled"
    if not c.up:
        return "down"
    if "compute" not in c.roles:
        return "no compute role"
    if c.why_not:
        return c.why_not
    if d.zone is not None and c.zone != d.zone:
        return f"zone {c.zone}"
    vcpus, ram, disk = free(c, ratios)
    if vcpus < d.vcpus:
        return f"{vcpus} vCPU free"
    if ram < d.ram_mb:
        return f"{ram} MiB RAM free"
    if disk < d.disk_gb:
        return f"{disk} GiB disk free"
    return None


def schedule(
    candidates: list[Candidate], demand: Demand, policy: str, ratios: Ratios
) -> tuple[str, str]:
    """(node name, reason) for a server, or Conflict naming why each node was filtered out."""
    pool = [c for c in candidates if demand.pinned in (None, c.name)]
    if demand.pinned is not None and not pool:
        raise Conflict(f"no node named {demand.pinned!r}", "`labcloud node list` shows the nodes")
    rejected = {c.name: rejection(c, demand, ratios) for c in pool}
    fits = [c for c in pool if rejected[c.name] is None]
    if not fits:
        why = "; ".join(f"{name}: {reason}" for name, reason in rejected.items())
        raise Conflict(
            f"no valid node for {demand.vcpus} vCPU, {demand.ram_mb} MiB, {demand.disk_gb} GiB"
            f" ({why})",
            "free capacity, enable or add a compute node, or pick a smaller flavor",
        )
    sign = -1 if policy == "spread" else 1
    # Ties go to the name, so the choice is deterministic.
    best = min(fits, key=lambda c: (sign * free(c, ratios)[1], free(c, ratios)[0] * sign, c.name))
    vcpus, ram, _disk = free(best, ratios)
    if demand.pinned is not None:
        reason = f"pinned with --node ({ram} MiB RAM, {vcpus} vCPU free)"
    else:
        most = "most" if policy == "spread" else "least"
        reason = f"{policy}: {most} free RAM of {len(fits)} fitting ({ram} MiB, {vcpus} vCPU free)"
    others = [f"{n}: {r}" for n, r in rejected.items() if r is not None]
    if others:
        reason += "; filtered out " + ", ".join(others)
    return best.name, reason
