"""The stack service's tables (Heat): stacks, and which stack owns which resource.

A resource belongs to a stack only through a StackResource row. Destroy walks those rows
and nothing else, so what another stack or a hand-made command created is never touched.
A row is written *before* its resource is made (status CREATING, no resource_id yet), so
an apply killed midway knows on the next run what it may have made and adopts it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from labcloud.db.models import Resource, utcnow


class Stack(Resource, table=True):
    __tablename__ = "stacks"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_stacks_project_name"),)
    project_id: str = Field(foreign_key="projects.id", index=True)
    description: str = ""
    source: str = ""  # the stack file last applied, as given
    parameters: str = "{}"  # JSON: the parameter values last applied
    outputs: str = "{}"  # JSON: the output expressions, evaluated on `stack show`


class StackResource(SQLModel, table=True):
    __tablename__ = "stack_resources"
    __table_args__ = (
        UniqueConstraint("stack_id", "kind", "name", name="uq_stack_resources_stack_kind_name"),
    )
    id: int | None = Field(default=None, primary_key=True)
    stack_id: str = Field(foreign_key="stacks.id", ondelete="CASCADE", index=True)
    kind: str = Field(max_length=32)  # server, network, ...
    name: str = Field(max_length=64)  # the resource's name (servers with count: web-1, ...)
    resource_id: str | None = Field(default=None, max_length=36, index=True)
    status: str = Field(default="CREATING", max_length=16)  # CREATING|COMPLETE|DELETING
    spec: str = "{}"  # JSON: the declared properties last applied (what plan diffs against)
    extra: str = "{}"  # JSON: what apply needs later, e.g. the IDs of a group's rules
    updated_at: datetime = Field(default_factory=utcnow)
