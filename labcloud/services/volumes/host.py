"""What the volume satellites (attach, export, part, recovery, snapshots) need of the
volume service. They take it as this Protocol, so that none of them imports the
service module, which imports them all: the package has no import cycle."""

from __future__ import annotations

from typing import Any, Protocol

from sqlmodel import Session

from labcloud.db.volume_models import Volume, VolumeSnapshot
from labcloud.services.core import (
    Journal,
    OperationHandle,
    ServiceContext,
    VolumeBackend,
    VolumeExporter,
)


class VolumeHost(Protocol):
    ctx: ServiceContext
    journal: Journal
    images_dir: Any

    def backend(self, type_name: str | None = None) -> VolumeBackend: ...

    def check_space(self, backend: VolumeBackend, size_gb: int) -> None: ...

    @property
    def exporter(self) -> VolumeExporter: ...

    def find(self, s: Session, ref: str) -> Volume: ...

    def find_snapshot(self, s: Session, ref: str) -> VolumeSnapshot: ...

    def refuse_taken(self, s: Session, model: type, name: str) -> None: ...

    def server_names(self) -> dict[str, str]: ...

    def disk_spec(self, vol: Volume) -> dict[str, object]: ...

    def undo_made(
        self,
        op: OperationHandle,
        model: type[Volume] | type[VolumeSnapshot],
        rid: str,
        name: str,
        vtype: str,
        location: str,
        why: object,
    ) -> None: ...

    def delete_steps(
        self, op: OperationHandle, vid: str, name: str, vtype: str, location: str
    ) -> None: ...

    def delete_snapshot_steps(
        self, op: OperationHandle, sid: str, name: str, vtype: str, location: str
    ) -> None: ...

    def settle_extend(
        self, op: OperationHandle, vid: str, status: str, size: int, note: str
    ) -> Volume: ...
