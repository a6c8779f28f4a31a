"""Identity tables (Keystone): users mapped to unix accounts, role assignments, quota limits.

Projects themselves live in models.py because every resource table points at them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from labcloud.db.models import utcnow


class User(SQLModel, table=True):
    """A labcloud user: the unix account of the same name is who they are."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("name", name="uq_users_name"),)
    id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=64)
    description: str = ""
    # The project the user last chose (`project use`); used when no --project is given.
    default_project_id: str | None = Field(default=None, foreign_key="projects.id")
    # bcrypt, for the API (Keystone's password method); None: no API password set.
    password_hash: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(default_factory=utcnow)


class RoleAssignment(SQLModel, table=True):
    """One role per user and project; admin implies member, member implies reader."""

    __tablename__ = "role_assignments"
    __table_args__ = (
        UniqueConstraint("user_id", "project_id", name="uq_role_assignments_user_project"),
    )
    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(foreign_key="users.id", index=True)
    project_id: str = Field(foreign_key="projects.id", index=True)
    role: str = Field(max_length=16)


class QuotaLimit(SQLModel, table=True):
    """A project's own limit for one resource; without a row the lab.toml default holds."""

    __tablename__ = "quota_limits"
    __table_args__ = (
        UniqueConstraint("project_id", "resource", name="uq_quota_limits_project_resource"),
    )
    id: int | None = Field(default=None, primary_key=True)
    project_id: str = Field(foreign_key="projects.id", index=True)
    resource: str = Field(max_length=32)
    hard_limit: int  # -1: unlimited


class ApiToken(SQLModel, table=True):
    """A Keystone token that `labcloud serve` issued: only its SHA-256 is kept, so the
    database never holds a usable token. Revoking deletes the row."""

    __tablename__ = "api_tokens"
    digest: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(foreign_key="users.id", index=True)
    project_id: str | None = Field(default=None, foreign_key="projects.id")
    audit_id: str = Field(max_length=32)
    issued_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)
