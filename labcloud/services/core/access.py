"""Who is calling, and what their roles let them do (Keystone's roles, oslo.policy's rules).

The caller is the unix user running labcloud; under sudo it is SUDO_USER. root is a cloud
admin, and so is anyone with the admin role in the `admin` project. Roles imply one another:
admin > member > reader. A reader sees a project's resources, a member also changes them.
"""

from __future__ import annotations

import functools
import os
import pwd
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from sqlmodel import select

from labcloud.db.identity_models import RoleAssignment, User
from labcloud.db.models import Project
from labcloud.db.store import Store
from labcloud.errors import Forbidden

ROLES = ("reader", "member", "admin")
_RANK = {role: rank for rank, role in enumerate(ROLES)}
# The project whose admins administer the whole lab, as Keystone's admin_project_name.
ADMIN_PROJECT = "admin"


@dataclass(frozen=True)
class Caller:
    name: str
    is_root: bool = False


def current_caller(env: Mapping[str, str] | None = None, euid: int | None = None) -> Caller:
    """root, or the unix user; SUDO_USER counts only for root, since anyone can set it."""
    env = os.environ if env is None else env
    euid = os.geteuid() if euid is None else euid
    if euid == 0:
        sudo_user = env.get("SUDO_USER", "")
        if sudo_user and sudo_user != "root":
            return Caller(sudo_user)
        return Caller("root", is_root=True)
    try:
        return Caller(pwd.getpwuid(euid).pw_name)
    except KeyError:
        return Caller(f"uid{euid}")


def implies(held: str | None, needed: str) -> bool:
    return held is not None and _RANK[held] >= _RANK[needed]


class Access:
    """The caller's user row and roles, read once per process."""

    def __init__(self, store: Store, caller: Caller) -> None:
        self.store = store
        self.caller = caller
        self._loaded = False
        self.user: User | None = None
        self.roles: dict[str, str] = {}  # project id -> role
        self._admin_project_id: str | None = None

    def _load(self) -> None:
        if self._loaded:
            return
        with self.store.read() as s:
            self.user = s.exec(select(User).where(User.name == self.caller.name)).first()
            if self.user is not None:
                rows = s.exec(select(RoleAssignment).where(RoleAssignment.user_id == self.user.id))
                self.roles = {r.project_id: r.role for r in rows}
            self._admin_project_id = s.exec(
                select(Project.id).where(Project.name == ADMIN_PROJECT)
            ).first()
        self._loaded = True

    def forget(self) -> None:
        """Roles changed in this process (role add/remove): read them again next time."""
        self._loaded = False

    @property
    def is_admin(self) -> bool:
        if self.caller.is_root:
            return True
        self._load()
        return self._admin_project_id is not None and implies(
            self.roles.get(self._admin_project_id), "admin"
        )

    def role_in(self, project_id: str) -> str | None:
        if self.is_admin:
            return "admin"
        return self.roles.get(project_id)

    def project_ids(self) -> list[str]:
        self._load()
        return list(self.roles)

    def check_known(self) -> None:
        self._load()  # root too: its row holds its last `project use`
        if self.user is None and not self.caller.is_root:
            raise Forbidden(
                f"unix user {self.caller.name!r} is not a labcloud user",
                f"an admin adds you: labcloud user create {self.caller.name} "
                "--project PROJECT --role member",
            )

    def require(self, project: Project, needed: str, doing: str) -> None:
        """Refuse, naming the missing role, unless the caller holds `needed` in `project`."""
        self.check_known()
        held = self.role_in(project.id)
        if implies(held, needed):
            if not project.enabled and not self.is_admin:
                raise Forbidden(f"project {project.name!r} is disabled", "ask an admin")
            return
        have = f"has the {held} role" if held else "has no role"
        raise Forbidden(
            f"{self.caller.name} {have} in project {project.name!r}; "
            f"{doing} needs the {needed} role",
            f"an admin can grant it: labcloud role add --user {self.caller.name} "
            f"--project {project.name} {needed}",
        )

    def require_admin(self, doing: str) -> None:
        self.check_known()
        if not self.is_admin:
            raise Forbidden(
                f"{doing} needs the admin role (in project {ADMIN_PROJECT!r})",
                f"{self.caller.name} is not a cloud admin; ask one, or use sudo as root",
            )


P = ParamSpec("P")
R = TypeVar("R")


def writes(fn: Callable[P, R]) -> Callable[P, R]:
    """A service method that changes the current project's resources: member or better."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        service: Any = args[0]
        service.ctx.require("member", _doing(service, fn))
        return fn(*args, **kwargs)

    return wrapper


def admin_only(fn: Callable[P, R]) -> Callable[P, R]:
    """A service method that changes the lab itself (flavors, projects, users, quotas)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        service: Any = args[0]
        service.ctx.access.require_admin(_doing(service, fn))
        return fn(*args, **kwargs)

    return wrapper


def _doing(service: Any, fn: Callable[..., Any]) -> str:
    """'create server' from ComputeService.create; 'create subnet' from create_subnet."""
    name = fn.__name__.strip("_")
    if "_" in name:
        return name.replace("_", " ")
    noun = getattr(service, "noun", type(service).__name__.removesuffix("Service").lower())
    return f"{name} {noun}"
