"""Keystone's tokens, for `labcloud serve`: password authentication scoped to a project,
validation and revocation.

A token is 32 random bytes from `secrets`; the store keeps only its SHA-256, so a copy of
the database holds no usable token. Passwords are bcrypt hashes (Keystone's default
hasher). Roles in a token are the user's role in the project and the roles it implies
(admin > member > reader), as Keystone's implied roles put them there; the lab's admins
(admin in the `admin` project) may scope to any project, as they may act in any.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import bcrypt
from sqlmodel import Session, col, delete, select

from labcloud.db.identity_models import ApiToken, RoleAssignment, User
from labcloud.db.models import Project, utcnow
from labcloud.errors import Unauthorized, UsageError
from labcloud.services.core import ADMIN_PROJECT, ROLES, ServiceContext, implies

# bcrypt reads at most 72 bytes; a longer password would be silently cut.
MAX_PASSWORD_BYTES = 72
# Checked when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = bcrypt.hashpw(b"labcloud-no-such-user", bcrypt.gensalt(4))


def hash_password(password: str) -> str:
    raw = password.encode()
    if not raw:
        raise UsageError("a password may not be empty")
    if len(raw) > MAX_PASSWORD_BYTES:
        raise UsageError(f"a password is at most {MAX_PASSWORD_BYTES} bytes")
    return bcrypt.hashpw(raw, bcrypt.gensalt()).decode()


def role_id(role: str) -> str:
    """A stable id per role name, as Keystone gives every role one."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"labcloud:role:{role}").hex


@dataclass(frozen=True)
class Grant:
    """What a valid token stands for."""

    user_id: str
    user_name: str
    project_id: str | None
    project_name: str | None
    roles: tuple[str, ...]  # the role held and those it implies, highest first
    audit_id: str
    issued_at: datetime
    expires_at: datetime
    token: str = ""  # only when just issued


def _aware(when: datetime) -> datetime:
    """SQLite hands datetimes back without their zone; they were stored in UTC."""
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenService:
    def __init__(self, ctx: ServiceContext, hours: float) -> None:
        self.ctx = ctx
        self.lifetime = timedelta(hours=hours)

    def issue(self, user_name: str, password: str, project_ref: str | None) -> Grant:
        """Keystone's password method. A wrong name, password or project is the same 401."""
        refused = Unauthorized("the request you have made requires authentication")
        with self.ctx.store.read() as s:
            user = s.exec(select(User).where(User.name == user_name)).first()
            stored = user.password_hash.encode() if user and user.password_hash else _DUMMY_HASH
            try:
                matches = bcrypt.checkpw(password.encode()[:MAX_PASSWORD_BYTES], stored)
            except ValueError:
                matches = False
            if user is None or user.password_hash is None or not matches:
                raise refused
            project = _project(s, project_ref) if project_ref else None
            if project_ref and project is None:
                raise refused
            roles = _roles(s, user, project) if project else ()
            if project is not None and (not roles or not project.enabled):
                raise refused
        return self._new(user, project, roles)

    def _new(
        self,
        user: User,
        project: Project | None,
        roles: tuple[str, ...],
        not_after: datetime | None = None,
    ) -> Grant:
        token = secrets.token_urlsafe(32)
        now = utcnow().replace(microsecond=0)
        expires = now + self.lifetime
        if not_after is not None:
            expires = min(expires, not_after)
        row = ApiToken(
            digest=_digest(token),
            user_id=user.id,
            project_id=project.id if project else None,
            audit_id=secrets.token_urlsafe(16)[:22],
            issued_at=now,
            expires_at=expires,
        )
        with self.ctx.store.write() as s:
            # Expired tokens are of no use to anyone: dropped as new ones are made.
            expired = delete(ApiToken).where(col(ApiToken.expires_at) < now)
            s.exec(expired)
            s.add(row)
        return Grant(
            user.id,
            user.name,
            row.project_id,
            project.name if project else None,
            roles,
            row.audit_id,
            row.issued_at,
            row.expires_at,
            token,
        )

    def user_name(self, user_id: str) -> str:
        """The name of the user with this id; an unknown id is the same 401 as a bad name."""
        with self.ctx.store.read() as s:
            user = s.get(User, user_id)
        if user is None:
            raise Unauthorized("the request you have made requires authentication")
        return user.name

    def rescope(self, held: Grant, project_ref: str | None) -> Grant:
        """Keystone's token method: a new token for the same user, scoped anew."""
        with self.ctx.store.read() as s:
            user = s.get(User, held.user_id)
            project = _project(s, project_ref) if project_ref else None
            roles = _roles(s, user, project) if user and project else ()
        if user is None or (project_ref and (project is None or not roles or not project.enabled)):
            raise Unauthorized("the request you have made requires authentication")
        # As Keystone: a token made from a token lives no longer than the one it came from.
        return self._new(user, project, roles, held.expires_at)

    def validate(self, token: str) -> Grant:
        """What the token stands for now; roles are read again, so a removed role is gone
        from a token at once. An unknown, revoked or expired token is a 401."""
        with self.ctx.store.read() as s:
            row = s.get(ApiToken, _digest(token)) if token else None
            if row is None or _aware(row.expires_at) <= utcnow():
                raise Unauthorized("the token is unknown, revoked or expired")
            user = s.get(User, row.user_id)
            project = s.get(Project, row.project_id) if row.project_id else None
            roles = _roles(s, user, project) if user and project else ()
            if user is None or (row.project_id and (project is None or not roles)):
                raise Unauthorized("the token's user or project no longer has access")
            return Grant(
                user.id,
                user.name,
                row.project_id,
                project.name if project else None,
                roles,
                row.audit_id,
                _aware(row.issued_at),
                _aware(row.expires_at),
            )

    def revoke(self, token: str) -> None:
        with self.ctx.store.write() as s:
            row = s.get(ApiToken, _digest(token))
            if row is None:
                raise Unauthorized("the token is unknown, revoked or expired")
            s.delete(row)


def _project(s: Session, ref: str) -> Project | None:
    by_id = s.get(Project, ref)
    return by_id or s.exec(select(Project).where(Project.name == ref)).first()


def _roles(s: Session, user: User, project: Project) -> tuple[str, ...]:
    held = s.exec(
        select(RoleAssignment.role).where(
            RoleAssignment.user_id == user.id, RoleAssignment.project_id == project.id
        )
    ).first()
    admin_project = s.exec(select(Project.id).where(Project.name == ADMIN_PROJECT)).first()
    is_lab_admin = admin_project is not None and (
        s.exec(
            select(RoleAssignment.role).where(
                RoleAssignment.user_id == user.id,
                RoleAssignment.project_id == admin_project,
                RoleAssignment.role == "admin",
            )
        ).first()
        is not None
    )
    top = "admin" if is_lab_admin else held
    return tuple(r for r in reversed(ROLES) if implies(top, r))
