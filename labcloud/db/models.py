"""The state store's tables. They record what labcloud intends and what it allocated.

libvirt and the kernel hold what actually runs; sync keeps the two in step.
Every change here needs an Alembic migration (a unit test compares the two).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class Resource(SQLModel):
    """What every resource has: a UUID, a name, a status and timestamps."""

    id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=64)
    status: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Project(Resource, table=True):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("name", name="uq_projects_name"),)
    description: str = ""
    enabled: bool = True


class Flavor(Resource, table=True):
    __tablename__ = "flavors"
    __table_args__ = (UniqueConstraint("name", name="uq_flavors_name"),)
    vcpus: int
    ram: int  # MiB
    disk: int  # GiB
    ephemeral: int = 0
    is_public: bool = True


class Image(Resource, table=True):
    __tablename__ = "images"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_images_project_name"),)
    project_id: str = Field(foreign_key="projects.id", index=True)
    disk_format: str  # what Glance calls it: qcow2, raw, aki, ari, ami, ...
    container_format: str = "bare"
    file_format: str = ""  # what qemu-img detected in the stored file
    size: int = 0
    virtual_size: int = 0
    checksum: str = ""  # sha256 of the stored file; also its name in the store
    visibility: str = "private"
    protected: bool = False
    min_disk: int = 0
    min_ram: int = 0
    kernel_id: str | None = Field(default=None, foreign_key="images.id")
    ramdisk_id: str | None = Field(default=None, foreign_key="images.id")
    properties: str = "{}"  # JSON object


class Server(Resource, table=True):
    __tablename__ = "servers"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_servers_project_name"),)
    project_id: str = Field(foreign_key="projects.id", index=True)
    image_id: str | None = Field(default=None, foreign_key="images.id")
    # The flavor is copied, as Nova embeds it: deleting a flavor never breaks a server.
    flavor_id: str | None = None
    flavor_name: str
    vcpus: int
    ram: int
    disk: int
    task_state: str | None = None
    power_state: str = "NOSTATE"
    node: str = "local"
    domain_name: str
    fault: str = ""
    launched_at: datetime | None = None


class Operation(SQLModel, table=True):
    """The journal of a multi-step operation, so a crash can be finished or rolled back."""

    __tablename__ = "operations"
    id: str = Field(primary_key=True, max_length=36)
    kind: str = Field(max_length=64)  # e.g. server.create
    resource_id: str = Field(index=True, max_length=36)
    step: str = Field(max_length=32)
    state: str = Field(default="running", max_length=16, index=True)  # running|done|rolled_back
    detail: str = "{}"
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Event(SQLModel, table=True):
    """Recent events for the overview and `labcloud event list`."""

    __tablename__ = "events"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    resource_type: str = Field(max_length=32)
    resource_id: str = Field(max_length=36)
    resource_name: str = Field(max_length=64)
    message: str


class Keypair(SQLModel, table=True):
    """An SSH public key a user gives servers (Nova's keypairs belong to a user)."""

    __tablename__ = "keypairs"
    __table_args__ = (UniqueConstraint("user_name", "name", name="uq_keypairs_user_name"),)
    id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=64)
    user_name: str = Field(max_length=64, index=True)
    key_type: str = Field(default="ssh", max_length=16)  # ssh (x509 is not supported)
    fingerprint: str = Field(max_length=64)
    public_key: str
    created_at: datetime = Field(default_factory=utcnow)


class ServerSeed(SQLModel, table=True):
    """What a server's cloud-init seed carries, so it can be rebuilt and redefined."""

    __tablename__ = "server_seeds"
    server_id: str = Field(primary_key=True, max_length=36)
    key_name: str | None = None
    public_key: str = ""  # copied: deleting the keypair later never breaks the server
    user_data: bytes | None = None
