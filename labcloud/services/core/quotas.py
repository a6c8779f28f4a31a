"""Quotas (Nova, Cinder and Neutron's): per-project limits, with lab.toml's defaults.

`charge` runs inside the write transaction that adds the new rows. Store.write() begins
IMMEDIATE, so no other process can write between the count and the insert: racing creates
queue up and never overshoot a limit. Nothing is reserved in advance, so nothing leaks when
a process dies.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from labcloud.db.identity_models import QuotaLimit
from labcloud.db.models import Project, Server
from labcloud.db.volume_models import Volume
from labcloud.errors import QuotaExceeded, UsageError
from labcloud.services.core.access import admin_only
from labcloud.services.core.context import ServiceContext, find
from labcloud.services.core.quota_usage import COUNTERS, RESOURCES, sum_of, usage

UNLIMITED = -1


@dataclass(frozen=True)
class QuotaLine:
    resource: str
    limit: int  # -1: unlimited
    in_use: int

    @property
    def over(self) -> bool:
        return self.limit != UNLIMITED and self.in_use > self.limit


def limits(ctx: ServiceContext, s: Session, project_id: str) -> dict[str, int]:
    """lab.toml's [quotas], overridden by the project's own `quota set` rows."""
    found = dict(ctx.config.quotas.model_dump())
    rows = s.exec(select(QuotaLimit).where(QuotaLimit.project_id == project_id))
    found.update({row.resource: row.hard_limit for row in rows})
    return found


def charge(ctx: ServiceContext, s: Session, project_id: str, **deltas: int) -> None:
    """Refuse the change if any resource would go over its limit. Call it in the write
    transaction that adds the rows, before adding them. A negative delta (a smaller flavor)
    never fails."""
    wanted = {name: delta for name, delta in deltas.items() if delta > 0}
    if not wanted:
        return
    limit_of = limits(ctx, s, project_id)
    for name, delta in wanted.items():
        limit = limit_of[name]
        if limit == UNLIMITED:
            continue
        used = COUNTERS[name][1](s, project_id)
        if used + delta > limit:
            project = s.get(Project, project_id)
            pname = project.name if project else project_id
            raise QuotaExceeded(
                f"quota exceeded for {name} in project {pname!r}: {used} of {limit} used, "
                f"this needs {delta} more",
                f"free some, or an admin raises it: labcloud quota set {pname} "
                f"--{name.replace('_', '-')} N",
            )


class QuotaService:
    noun = "quota"

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def _project(self, s: Session, ref: str | None) -> Project:
        if ref is None:
            return self.ctx.project
        project = find(s, Project, ref, "project")
        self.ctx.access.require(project, "reader", f"showing the quotas of {project.name!r}")
        return project

    def show(self, project_ref: str | None = None) -> tuple[Project, list[QuotaLine]]:
        with self.ctx.store.read() as s:
            project = self._project(s, project_ref)
            limit_of = limits(self.ctx, s, project.id)
            used = usage(s, project.id)
        return project, [QuotaLine(r, limit_of[r], used[r]) for r in RESOURCES]

    def overview(self, project_ref: str | None = None) -> tuple[Project, dict[str, int]]:
        """What a project holds now (`labcloud usage`, the TUI overview)."""
        with self.ctx.store.read() as s:
            project = self._project(s, project_ref)
            used = usage(s, project.id, ("instances", "cores", "ram", "volumes", "floating_ips"))
            disk = sum_of(s, project.id, Server.disk)
            volume_gb = sum_of(s, project.id, Volume.size)
        return project, {
            "servers": used["instances"],
            "vcpus": used["cores"],
            "ram_mib": used["ram"],
            "disk_gib": disk,
            "volumes": used["volumes"],
            "volume_gib": volume_gb,
            "floating_ips": used["floating_ips"],
        }

    @admin_only
    def set(self, project_ref: str, new: dict[str, int]) -> tuple[Project, list[QuotaLine]]:
        """Set limits; one below current usage is allowed (as in Nova) and shows as over."""
        for name, value in new.items():
            if name not in COUNTERS:
                raise UsageError(f"unknown quota {name!r}", "one of: " + ", ".join(RESOURCES))
            if value < UNLIMITED:
                raise UsageError(f"quota {name} must be -1 (unlimited) or at least 0")
        with self.ctx.store.write() as s:
            project = find(s, Project, project_ref, "project")
            existing = {
                row.resource: row
                for row in s.exec(select(QuotaLimit).where(QuotaLimit.project_id == project.id))
            }
            for name, value in new.items():
                row = existing.get(name)
                if row is None:
                    s.add(QuotaLimit(project_id=project.id, resource=name, hard_limit=value))
                else:
                    row.hard_limit = value
        return self.show(project.name)

    @admin_only
    def unset(self, project_ref: str, names: list[str]) -> Project:
        """Drop a project's own limits: lab.toml's [quotas] applies to them again."""
        for name in names:
            if name not in COUNTERS:
                raise UsageError(f"unknown quota {name!r}", "one of: " + ", ".join(RESOURCES))
        with self.ctx.store.write() as s:
            project = find(s, Project, project_ref, "project")
            for row in s.exec(select(QuotaLimit).where(QuotaLimit.project_id == project.id)):
                if row.resource in names:
                    s.delete(row)
        return project

    def overrides(self, project_ref: str | None = None) -> tuple[Project, dict[str, int]]:
        """The limits `quota set` gave a project (not lab.toml's defaults)."""
        with self.ctx.store.read() as s:
            project = self._project(s, project_ref)
            rows = s.exec(select(QuotaLimit).where(QuotaLimit.project_id == project.id))
            return project, {row.resource: row.hard_limit for row in rows}
