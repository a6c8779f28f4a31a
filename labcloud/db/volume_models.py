"""The volume service's tables: volumes and their snapshots (Cinder).

A volume is attached to at most one server; (server_id, device) is unique so two
racing attaches can never pick the same device name.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field

from labcloud.db.models import Resource


class Volume(Resource, table=True):
    __tablename__ = "volumes"
    __table_args__ = (
        UniqueConstraint("project_id", "name", name="uq_volumes_project_name"),
        UniqueConstraint("server_id", "device", name="uq_volumes_server_device"),
    )
    project_id: str = Field(foreign_key="projects.id", index=True)
    size: int  # GiB
    volume_type: str = Field(max_length=64)  # a backend named in lab.toml
    location: str = ""  # the backend's handle: a file path or vg/lv
    description: str = ""
    bootable: bool = False
    source_image_id: str | None = Field(default=None, max_length=36)
    snapshot_id: str | None = Field(default=None, max_length=36)
    source_volid: str | None = Field(default=None, max_length=36)
    # Cinder's volume_image_metadata: the image a volume was made from (JSON object), so
    # a server booted from it finds its kernel, ramdisk and command line.
    volume_image_metadata: str = "{}"
    server_id: str | None = Field(default=None, max_length=36, index=True)
    device: str | None = Field(default=None, max_length=16)  # vdb, ...
    boot_index: int | None = None  # 0: the server's root disk
    delete_on_termination: bool = False
    attached_at: datetime | None = None


class VolumeSnapshot(Resource, table=True):
    __tablename__ = "volume_snapshots"
    __table_args__ = (
        UniqueConstraint("project_id", "name", name="uq_volume_snapshots_project_name"),
    )
    project_id: str = Field(foreign_key="projects.id", index=True)
    volume_id: str = Field(foreign_key="volumes.id", index=True)
    size: int  # GiB, the volume's size when taken
    location: str = ""
    description: str = ""
