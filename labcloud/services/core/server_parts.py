"""How other services take part in a server's life without compute knowing them.

A server is more than a root disk: the network service gives it NICs, the volume
service gives it volumes (maybe its root disk), and the image service gives it a
cloud-init seed. Each of those implements `ServerPart`; lab.py hands the parts to
compute, and compute calls them at fixed points of its journalled create and delete:

    validate  (read transaction, before anything is allocated; raise on bad input)
    allocate  (inside the same write transaction that inserts the server row)
    provision (system side, after the root disk, before the domain is defined)
    devices   (from the store only: used by define, and by redefine after drift)
    release   (undo of allocate + provision; must be idempotent, since rollback and
               crash recovery may call it after any prefix of the steps ran)

A request field that no part claims is refused, so a half-built feature is an error,
never a silently ignored option.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Protocol

from sqlmodel import Session

from labcloud.db.models import Server


@dataclass
class CreateRequest:
    """What `server create` asked for beyond name, image and flavor."""

    networks: list[str] = field(default_factory=list)  # --network NET (repeatable)
    ports: list[str] = field(default_factory=list)  # --port PORT (repeatable)
    nics: list[dict[str, str]] = field(default_factory=list)  # --nic net-id=..,v4-fixed-ip=..
    security_groups: list[str] = field(default_factory=list)  # --security-group SG
    volumes: list[str] = field(default_factory=list)  # --block-device / extra data volumes
    boot_volume: str | None = None  # --volume VOL: boot from an existing volume
    boot_volume_size: int | None = None  # --boot-from-image IMG --boot-volume-size GB
    key_name: str | None = None  # --key-name KEY
    user_data: bytes | None = None  # --user-data FILE
    node: str | None = None  # --node N: an admin pins the node (scheduler filters skipped)
    availability_zone: str | None = None  # --availability-zone AZ

    def requested(self) -> set[str]:
        """The names of the fields the user actually set."""
        return {f.name for f in fields(self) if getattr(self, f.name) not in (None, [], b"")}

    @property
    def boots_from_volume(self) -> bool:
        return self.boot_volume is not None or self.boot_volume_size is not None


@dataclass
class Devices:
    """A part's devices for the domain definition, as plain data for the DomainBuilder.

    disks: DiskConfig keyword dicts (path, target, file_format, bus, device, source_type,
    readonly, serial, boot_order). nics: InterfaceConfig keyword dicts (mac, bridge,
    target_dev, mtu, model). `root` is True when a disk here replaces the overlay root.
    """

    disks: list[dict[str, object]] = field(default_factory=list)
    nics: list[dict[str, object]] = field(default_factory=list)
    root: bool = False

    def extend(self, other: Devices) -> None:
        self.disks.extend(other.disks)
        self.nics.extend(other.nics)
        self.root = self.root or other.root


class ServerPart(Protocol):
    #: The CreateRequest fields this part handles.
    claims: frozenset[str]

    def validate(self, s: Session, request: CreateRequest, server: Server) -> None: ...
    def allocate(self, s: Session, request: CreateRequest, server: Server) -> None: ...
    def provision(self, server: Server, request: CreateRequest) -> None: ...
    def devices(self, server: Server) -> Devices: ...
    def release(self, server_id: str) -> None: ...
