"""Identity (Keystone): projects, users mapped to unix accounts, and role assignments."""

from __future__ import annotations

import difflib
import pwd
from dataclasses import dataclass

from sqlmodel import Session, col, delete, select

from labcloud.config import ProjectConfig, UserConfig
from labcloud.db.identity_models import QuotaLimit, RoleAssignment, User
from labcloud.db.l3_models import (
    FloatingIP,
    PortSecurityGroup,
    Router,
    SecurityGroup,
    SecurityGroupRule,
)
from labcloud.db.models import Event, Image, Project, Server, utcnow
from labcloud.db.network_models import Network, Port, Subnet
from labcloud.db.stack_models import Stack
from labcloud.db.volume_models import Volume, VolumeSnapshot
from labcloud.errors import ConfigError, Conflict, NotFound, UsageError
from labcloud.names import check_name, new_uuid
from labcloud.services.core import (
    ADMIN_PROJECT,
    ROLES,
    ServiceContext,
    admin_only,
    find,
    record_event,
)

# What a project can still hold, in the order a refused delete lists it.
OWNED: tuple[tuple[str, type], ...] = (
    ("stack", Stack),
    ("server", Server),
    ("volume snapshot", VolumeSnapshot),
    ("volume", Volume),
    ("floating IP", FloatingIP),
    ("router", Router),
    ("port", Port),
    ("subnet", Subnet),
    ("network", Network),
    ("security group", SecurityGroup),
    ("image", Image),
)


@dataclass(frozen=True)
class Assignment:
    user: str
    project: str
    role: str


def check_role(role: str) -> str:
    if role in ROLES:
        return role
    close = difflib.get_close_matches(role, ROLES, n=1)
    hint = f"did you mean {close[0]}?" if close else "one of: " + ", ".join(ROLES)
    raise UsageError(f"unknown role {role!r}", hint)


def check_unix_account(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        raise NotFound(
            f"there is no unix account {name!r} on this machine",
            "labcloud users are local accounts: create it first (adduser)",
        ) from None


def _assignment(s: Session, user_id: str, project_id: str) -> RoleAssignment | None:
    """A user's role row in a project (one at most: the pair is unique)."""
    query = select(RoleAssignment).where(
        RoleAssignment.user_id == user_id, RoleAssignment.project_id == project_id
    )
    return s.exec(query).first()


class IdentityService:
    noun = "identity"

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    # -- projects -------------------------------------------------------------------
    def list_projects(self) -> list[Project]:
        """Every project for an admin; otherwise those the caller has a role in."""
        with self.ctx.store.read() as s:
            query = select(Project).order_by(Project.name)
            if not self.ctx.access.is_admin:
                self.ctx.access.check_known()
                query = query.where(Project.id.in_(self.ctx.access.project_ids()))  # type: ignore[attr-defined]
            return list(s.exec(query))

    def get_project(self, ref: str) -> Project:
        with self.ctx.store.read() as s:
            project = find(s, Project, ref, "project")
        self.ctx.access.require(project, "reader", f"showing project {project.name!r}")
        return project

    @admin_only
    def create_project(self, name: str, description: str = "", enabled: bool = True) -> Project:
        check_name(name, "project name")
        with self.ctx.store.write() as s:
            if s.exec(select(Project.id).where(Project.name == name)).first():
                raise Conflict(f"a project named {name!r} already exists")
            project = Project(
                id=new_uuid(),
                name=name,
                status="active",
                description=description,
                enabled=enabled,
            )
            s.add(project)
            record_event(s, "project", project.id, name, "created")
        return project

    @admin_only
    def set_project(
        self,
        ref: str,
        *,
        name: str | None = None,
        description: str | None = None,
        enabled: bool | None = None,
    ) -> Project:
        with self.ctx.store.write() as s:
            project = find(s, Project, ref, "project")
            if name is not None and name != project.name:
                check_name(name, "project name")
                if s.exec(select(Project.id).where(Project.name == name)).first():
                    raise Conflict(f"a project named {name!r} already exists")
                project.name = name
            if description is not None:
                project.description = description
            if enabled is not None:
                if not enabled and project.name == ADMIN_PROJECT:
                    raise Conflict(f"the {ADMIN_PROJECT!r} project cannot be disabled")
                project.enabled = enabled
            project.updated_at = utcnow()
            record_event(s, "project", project.id, project.name, "updated")
        return project

    @admin_only
    def delete_project(self, ref: str) -> Project:
        with self.ctx.store.write() as s:
            project = find(s, Project, ref, "project")
            if project.name == ADMIN_PROJECT:
                raise Conflict(f"the {ADMIN_PROJECT!r} project cannot be deleted")
            remaining = self._holdings(s, project.id)
            if remaining:
                raise Conflict(
                    f"project {project.name!r} still holds " + "; ".join(remaining),
                    "delete those first",
                )
            # The default security group is made for the project, so it goes with it.
            s.exec(delete(SecurityGroupRule).where(col(SecurityGroupRule.project_id) == project.id))
            s.exec(delete(SecurityGroup).where(col(SecurityGroup.project_id) == project.id))
            s.exec(delete(QuotaLimit).where(col(QuotaLimit.project_id) == project.id))
            s.exec(delete(RoleAssignment).where(col(RoleAssignment.project_id) == project.id))
            for user in s.exec(select(User).where(User.default_project_id == project.id)):
                user.default_project_id = None
            s.delete(project)
            record_event(s, "project", project.id, project.name, "deleted")
        return project

    @staticmethod
    def _holdings(s: Session, project_id: str) -> list[str]:
        """'2 servers (web1, web2)' for each kind the project still holds; the default
        security group (unused by any port) does not count."""
        found: list[str] = []
        for what, model in OWNED:
            query = select(model.name).where(model.project_id == project_id)  # type: ignore[attr-defined]
            if model is SecurityGroup:
                used = select(PortSecurityGroup.security_group_id)
                query = query.where(
                    (SecurityGroup.name != "default") | SecurityGroup.id.in_(used)  # type: ignore[attr-defined]
                )
            names = [n or "(unnamed)" for n in s.exec(query)]
            if names:
                shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
                plural = "s" if len(names) > 1 else ""
                found.append(f"{len(names)} {what}{plural} ({shown})")
        return found

    def use_project(self, ref: str) -> Project:
        """Remember the caller's choice: later commands without --project act in it."""
        with self.ctx.store.read() as s:
            project = find(s, Project, ref, "project")
        self.ctx.access.require(project, "reader", f"using project {project.name!r}")
        with self.ctx.store.write() as s:
            user = self._ensure_user(s, self.ctx.access.caller.name)
            user.default_project_id = project.id
        return project

    # -- users ----------------------------------------------------------------------
    def list_users(self) -> list[tuple[User, list[Assignment]]]:
        self.ctx.access.check_known()
        with self.ctx.store.read() as s:
            users = list(s.exec(select(User).order_by(User.name)))
            if not self.ctx.access.is_admin:
                users = [u for u in users if u.name == self.ctx.access.caller.name]
            return [(u, self._assignments(s, user_id=u.id)) for u in users]

    def get_user(self, ref: str) -> tuple[User, list[Assignment]]:
        self.ctx.access.check_known()
        with self.ctx.store.read() as s:
            user = find(s, User, ref, "user")
            if user.name != self.ctx.access.caller.name:
                self.ctx.access.require_admin("showing another user")
            return user, self._assignments(s, user_id=user.id)

    def api_credentials(self) -> dict[str, str]:
        """What the openstack client needs to act as the caller in the current project
        (no password: labcloud keeps only its hash)."""
        self.ctx.access.check_known()
        caller = self.ctx.access.caller
        if self.ctx.access.user is None:
            raise UsageError(
                f"{caller.name} has no API user (the API knows labcloud users by password)",
                "make one: labcloud user create NAME --project admin --role admin; "
                "labcloud user set NAME --password-prompt",
            )
        return {
            "auth_url": self.ctx.config.api.auth_url,
            "username": caller.name,
            "project_name": self.ctx.project.name,
            "user_domain_name": "Default",
            "project_domain_name": "Default",
            "region_name": "RegionOne",
        }

    def set_password(self, ref: str, password: str) -> User:
        """The user's API password (Keystone's). Users set their own; admins anyone's.
        The user's tokens are revoked, as Keystone does when a password changes."""
        from labcloud.db.identity_models import ApiToken
        from labcloud.services.tokens import hash_password

        self.ctx.access.check_known()
        hashed = hash_password(password)
        with self.ctx.store.write() as s:
            user = find(s, User, ref, "user")
            if user.name != self.ctx.access.caller.name:
                self.ctx.access.require_admin("setting another user's password")
            user.password_hash = hashed
            s.add(user)
            s.exec(delete(ApiToken).where(ApiToken.user_id == user.id))  # type: ignore[arg-type]
            record_event(s, "user", user.id, user.name, "password set")
        return user

    @admin_only
    def create_user(
        self,
        name: str,
        description: str = "",
        project: str | None = None,
        role: str | None = None,
    ) -> User:
        check_name(name, "user name")
        check_unix_account(name)
        if role is not None:
            check_role(role)
        if (project is None) != (role is None):
            raise UsageError("give --project and --role together")
        with self.ctx.store.write() as s:
            if s.exec(select(User.id).where(User.name == name)).first():
                raise Conflict(f"a user named {name!r} already exists")
            user = User(id=new_uuid(), name=name, description=description)
            s.add(user)
            if project is not None and role is not None:
                target = find(s, Project, project, "project")
                s.add(RoleAssignment(user_id=user.id, project_id=target.id, role=role))
            record_event(s, "user", user.id, name, "created")
        self.ctx.access.forget()
        return user

    @admin_only
    def delete_user(self, ref: str) -> User:
        with self.ctx.store.write() as s:
            user = find(s, User, ref, "user")
            if user.name == "root":
                raise Conflict("root is always a cloud admin and cannot be deleted")
            s.exec(delete(RoleAssignment).where(col(RoleAssignment.user_id) == user.id))
            s.delete(user)
            record_event(s, "user", user.id, user.name, "deleted")
        self.ctx.access.forget()
        return user

    # -- roles ----------------------------------------------------------------------
    @admin_only
    def add_role(self, user_ref: str, project_ref: str, role: str) -> Assignment:
        """Give a user a role in a project; it replaces the role they had there."""
        check_role(role)
        with self.ctx.store.write() as s:
            user = find(s, User, user_ref, "user")
            project = find(s, Project, project_ref, "project")
            row = _assignment(s, user.id, project.id)
            if row is None:
                s.add(RoleAssignment(user_id=user.id, project_id=project.id, role=role))
            else:
                row.role = role
            record_event(s, "user", user.id, user.name, f"role {role} in {project.name}")
        self.ctx.access.forget()
        return Assignment(user.name, project.name, role)

    @admin_only
    def remove_role(self, user_ref: str, project_ref: str, role: str | None = None) -> Assignment:
        if role is not None:
            check_role(role)
        with self.ctx.store.write() as s:
            user = find(s, User, user_ref, "user")
            project = find(s, Project, project_ref, "project")
            row = _assignment(s, user.id, project.id)
            if row is None or (role is not None and row.role != role):
                raise NotFound(f"{user.name} has no {role or 'role'} in project {project.name!r}")
            s.delete(row)
            record_event(s, "user", user.id, user.name, f"role {row.role} removed")
        self.ctx.access.forget()
        return Assignment(user.name, project.name, row.role)

    def assignments(self, user: str | None = None, project: str | None = None) -> list[Assignment]:
        self.ctx.access.check_known()
        with self.ctx.store.read() as s:
            user_id = find(s, User, user, "user").id if user else None
            project_id = find(s, Project, project, "project").id if project else None
            found = self._assignments(s, user_id=user_id, project_id=project_id)
        if self.ctx.access.is_admin:
            return found
        me = self.ctx.access.caller.name
        mine = {a.project for a in found if a.user == me}
        return [a for a in found if a.project in mine]

    @staticmethod
    def _assignments(
        s: Session, *, user_id: str | None = None, project_id: str | None = None
    ) -> list[Assignment]:
        query = (
            select(User.name, Project.name, RoleAssignment.role)
            .join(User, User.id == RoleAssignment.user_id)  # type: ignore[arg-type]
            .join(Project, Project.id == RoleAssignment.project_id)  # type: ignore[arg-type]
        )
        if user_id is not None:
            query = query.where(RoleAssignment.user_id == user_id)
        if project_id is not None:
            query = query.where(RoleAssignment.project_id == project_id)
        return [Assignment(u, p, r) for u, p, r in s.exec(query.order_by(Project.name, User.name))]

    @staticmethod
    def _ensure_user(s: Session, name: str) -> User:
        user = s.exec(select(User).where(User.name == name)).first()
        if user is None:  # root has no row until it first needs one
            user = User(id=new_uuid(), name=name, description="")
            s.add(user)
        return user

    # -- events and seeding ---------------------------------------------------------
    def events(self, limit: int = 20) -> list[Event]:
        """The newest events; a non-admin sees only those about their projects' resources."""
        access = self.ctx.access
        with self.ctx.store.read() as s:
            query = select(Event).order_by(Event.at.desc())  # type: ignore[attr-defined]
            if not access.is_admin:
                access.check_known()
                mine = access.project_ids()
                ids: set[str] = set(mine)
                for _what, model in OWNED:
                    owned = select(model.id).where(model.project_id.in_(mine))  # type: ignore[attr-defined]
                    ids.update(s.exec(owned))
                query = query.where(Event.resource_id.in_(ids))  # type: ignore[attr-defined]
            return list(s.exec(query.limit(limit)))

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

    def seed_users(self, users: tuple[UserConfig, ...]) -> int:
        """lab.toml's [[users]]: create missing ones and add their roles (never removes)."""
        for want in users:
            try:
                check_unix_account(want.name)
            except NotFound:
                raise ConfigError(
                    f"users: {want.name!r} has no unix account on this machine",
                    "create it (adduser) or remove it from lab.toml",
                ) from None
        changed = 0
        with self.ctx.store.write() as s:
            for want in users:
                user = s.exec(select(User).where(User.name == want.name)).first()
                if user is None:
                    user = User(id=new_uuid(), name=want.name, description=want.description)
                    s.add(user)
                    changed += 1
                for pname, role in want.roles.items():
                    project = s.exec(select(Project).where(Project.name == pname)).first()
                    if project is None:
                        raise ConfigError(f"users: {want.name!r}: no project {pname!r}")
                    row = _assignment(s, user.id, project.id)
                    if row is None:
                        s.add(RoleAssignment(user_id=user.id, project_id=project.id, role=role))
                        changed += 1
                    elif row.role != role:
                        row.role = role
                        changed += 1
        return changed
