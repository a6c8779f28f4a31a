"""What every service gets: the config, the store, the caller, the current project and lazy
backends. The current project is checked against the caller's roles when first used."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import true
from sqlmodel import Session, SQLModel, or_, select

from labcloud.config import LabConfig
from labcloud.db.models import Event, Project, Server
from labcloud.db.store import Store
from labcloud.errors import NotFound
from labcloud.names import is_uuid
from labcloud.services.core.access import Access, Caller, current_caller
from labcloud.services.core.interfaces import (
    DeviceBuilder,
    DomainBuilder,
    Hypervisor,
    NetworkAgent,
    NodeAgent,
)

M = TypeVar("M", bound=SQLModel)


@dataclass
class ServiceContext:
    config: LabConfig
    store: Store
    # --project or $LABCLOUD_PROJECT; None: the caller's last choice, else the lab's default.
    project_name: str | None
    hypervisor_factory: Callable[[], Hypervisor]
    agent_factory: Callable[[], NodeAgent]
    domain_builder: DomainBuilder
    device_builder: DeviceBuilder
    network_agent_factory: Callable[[], NetworkAgent] | None = None
    caller: Caller = field(default_factory=current_caller)
    # --all-projects: lists span every project (admins only).
    all_projects: bool = False
    # A node's libvirt by node name (lab.py wires the node service); None: one machine.
    node_hypervisor: Callable[[str], Hypervisor] | None = None
    # A node's host agent, and putting files (images) on a node: None on one machine.
    node_agent: Callable[[str], NodeAgent] | None = None
    node_stage: Callable[[str, list[tuple[str, str]], Callable[[str], None]], None] | None = None
    _project: Project | None = field(default=None, repr=False)

    @property
    def state_dir(self) -> Path:
        return self.config.site.state_dir

    @cached_property
    def hypervisor(self) -> Hypervisor:
        return self.hypervisor_factory()

    def hypervisor_for(self, node: str) -> Hypervisor:
        """The libvirt of the node a server lives on; "local" is today's ctx.hypervisor."""
        if node == "local" or self.node_hypervisor is None:
            return self.hypervisor
        return self.node_hypervisor(node)

    def server_hypervisor(self, server_id: str) -> Hypervisor:
        """The libvirt of the node this server lives on (local for a server that is gone)."""
        with self.store.read() as s:
            row = s.get(Server, server_id)
        return self.hypervisor_for(row.node if row is not None else "local")

    def agent_for(self, node: str) -> NodeAgent:
        """The host agent for a server's files: local, or on a node that lacks state_dir."""
        if node == "local" or self.node_agent is None:
            return self.agent
        return self.node_agent(node)

    def stage_for(
        self, node: str, files: list[tuple[str, str]], report: Callable[[str], None]
    ) -> None:
        """Make (path, sha256) files of the state_dir present on a node, at the same path."""
        if node != "local" and self.node_stage is not None:
            self.node_stage(node, files, report)

    @cached_property
    def agent(self) -> NodeAgent:
        return self.agent_factory()

    @cached_property
    def net(self) -> NetworkAgent:
        """The node's bridges, VXLAN and DHCP (backends/network_agent.py)."""
        assert self.network_agent_factory is not None, "lab.py wires the network agent"
        return self.network_agent_factory()

    @cached_property
    def access(self) -> Access:
        return Access(self.store, self.caller)

    @property
    def project(self) -> Project:
        """The current project; the caller needs at least the reader role in it."""
        if self._project is None:
            name = self.project_name or self._default_project_name()
            with self.store.read() as s:
                project = s.exec(select(Project).where(Project.name == name)).first()
            if project is None:
                raise NotFound(
                    f"project {name!r} does not exist",
                    "run `labcloud init`, or pick one from `labcloud project list`",
                )
            self.access.require(project, "reader", f"using project {name!r}")
            self._project = project
        return self._project

    def forget_project(self) -> None:
        """Resolve the project again on next use (after `project use` switched it)."""
        self._project = None

    def _default_project_name(self) -> str:
        """The caller's last choice, else the lab's default if they may use it, else the
        first project they have a role in."""
        default = self.config.site.default_project
        self.access.check_known()
        with self.store.read() as s:
            user = self.access.user
            if user is not None and user.default_project_id:
                chosen = s.get(Project, user.default_project_id)
                if chosen is not None:
                    return chosen.name
            if self.access.is_admin:
                return default
            ids = self.access.project_ids()
            names = sorted(s.exec(select(Project.name).where(Project.id.in_(ids))))  # type: ignore[attr-defined]
        return default if default in names or not names else names[0]

    def require(self, role: str, doing: str) -> None:
        """Refuse unless the caller holds `role` in the current project."""
        self.access.require(self.project, role, doing)

    def scope(self, model: type[SQLModel]) -> Any:
        """The WHERE clause of a list: the current project, or all of them for an admin
        who asked for --all-projects."""
        if self.all_projects:
            self.access.require_admin("--all-projects")
            return true()
        return model.project_id == self.project.id  # type: ignore[attr-defined]


def find(
    session: Session,
    model: type[M],
    ref: str,
    what: str,
    *,
    project_id: str | None = None,
    public_ok: bool = False,
) -> M:
    """A resource by UUID or by name, within a project (and public ones when allowed)."""
    key = model.id if is_uuid(ref) else model.name  # type: ignore[attr-defined]
    query = select(model).where(key == ref)
    if project_id is not None:
        scope = model.project_id == project_id  # type: ignore[attr-defined]
        if public_ok:
            scope = or_(scope, model.visibility == "public")  # type: ignore[attr-defined]
        query = query.where(scope)
    rows = list(session.exec(query))
    if not rows:
        raise NotFound(
            f"no {what} named or with ID {ref!r}",
            f"`labcloud {what} list` shows the {what}s you can use",
        )
    if len(rows) > 1:
        # A private and a public one share the name: the project's own wins, as in Glance.
        own = [r for r in rows if getattr(r, "project_id", None) == project_id]
        if len(own) == 1:
            return own[0]
        raise NotFound(f"more than one {what} is named {ref!r}", "use its ID instead")
    return rows[0]


def record_event(
    session: Session, resource_type: str, resource_id: str, name: str, message: str
) -> None:
    session.add(
        Event(
            resource_type=resource_type,
            resource_id=resource_id,
            resource_name=name,
            message=message,
        )
    )
