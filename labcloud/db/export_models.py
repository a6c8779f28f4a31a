"""Volumes exported over the network (NBD) to a server on a node that cannot see them.

One row per exported volume: the port is unique, so two racing attaches never get the
same one, and the row is how a later start finds the exports it must keep running.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from labcloud.db.models import utcnow


class VolumeExport(SQLModel, table=True):
    __tablename__ = "volume_exports"
    volume_id: str = Field(primary_key=True, max_length=36)
    node: str = Field(max_length=64)  # the node of the server it is exported to
    export_name: str = Field(max_length=64)
    address: str = Field(max_length=64)  # the storage node's management address
    port: int = Field(unique=True)
    created_at: datetime = Field(default_factory=utcnow)
