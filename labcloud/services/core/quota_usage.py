"""How much of each quota resource a project holds now, counted from the tables themselves.

Counting live rows (instead of keeping a usage counter) means usage can never drift from
what exists. Quota checks call these inside the write transaction that adds the new rows,
so the count and the insert are one atomic step (quotas.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from labcloud.db.l3_models import FloatingIP, Router, SecurityGroup, SecurityGroupRule
from labcloud.db.models import Server
from labcloud.db.network_models import Network, Port, Subnet
from labcloud.db.volume_models import Volume, VolumeSnapshot


def _count(model: Any) -> Callable[[Session, str], int]:
    def count(s: Session, project_id: str) -> int:
        query = select(func.count()).select_from(model).where(model.project_id == project_id)
        return int(s.exec(query).one())

    return count


def sum_of(s: Session, project_id: str, *columns: Any) -> int:
    """The sum of these columns over a project's rows (0 when it has none)."""
    result = 0
    for column in columns:
        model = column.class_
        query = select(func.coalesce(func.sum(column), 0)).where(model.project_id == project_id)
        result += int(s.exec(query).one())
    return result


def _sum(*columns: Any) -> Callable[[Session, str], int]:
    def total(s: Session, project_id: str) -> int:
        return sum_of(s, project_id, *columns)

    return total


# Resource -> (what it counts, the counter). The order is the order `quota show` prints.
COUNTERS: dict[str, tuple[str, Callable[[Session, str], int]]] = {
    "instances": ("servers", _count(Server)),
    "cores": ("vCPUs of servers", _sum(Server.vcpus)),
    "ram": ("MiB of RAM of servers", _sum(Server.ram)),
    "volumes": ("volumes", _count(Volume)),
    "gigabytes": ("GiB of volumes and snapshots", _sum(Volume.size, VolumeSnapshot.size)),
    "snapshots": ("volume snapshots", _count(VolumeSnapshot)),
    "networks": ("networks", _count(Network)),
    "subnets": ("subnets", _count(Subnet)),
    "ports": ("ports", _count(Port)),
    "routers": ("routers", _count(Router)),
    "floating_ips": ("floating IPs", _count(FloatingIP)),
    "security_groups": ("security groups", _count(SecurityGroup)),
    "security_group_rules": ("security group rules", _count(SecurityGroupRule)),
}
RESOURCES: tuple[str, ...] = tuple(COUNTERS)


def usage(s: Session, project_id: str, resources: Iterable[str] = RESOURCES) -> dict[str, int]:
    return {name: COUNTERS[name][1](s, project_id) for name in resources}
