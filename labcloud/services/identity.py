"""Identity (Keystone): projects. Users, roles and quotas grow here."""

from __future__ import annotations

from sqlmodel import select

from labcloud.config import ProjectConfig
from labcloud.db.models import Event, Project
from labcloud.names import new_uuid
from labcloud.services.context import ServiceContext


class IdentityService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def list_projects(self) -> list[Project]:
        with self.ctx.store.read() as s:
            return list(s.exec(select(Project).order_by(Project.name)))

    def events(self, limit: int = 20) -> list[Event]:
        with self.ctx.store.read() as s:
            return list(s.exec(select(Event).order_by(Event.at.desc()).limit(limit)))  # type: ignore[attr-defined]

    def seed(self, projects: tuple[ProjectConfig, ...]) -> int:
        created = 0
        with self.ctx.store.write() as s:
            names = set(s.exec(select(Project.name)))
            for want in projects:
                if want.name not in names:
                    s.add(
                        Project(
                            id=new_uuid(),
                            name=want.name,
                            status="active",
                            description=want.description,
                        )
                    )
                    created += 1
        return created
