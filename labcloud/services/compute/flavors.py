"""Flavors: the sizes servers come in (Nova's flavors)."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from labcloud.config import FlavorConfig
from labcloud.db.models import Flavor, utcnow
from labcloud.errors import Conflict, UsageError
from labcloud.names import check_name, new_uuid
from labcloud.services.core import ServiceContext, admin_only, find


class FlavorService:
    noun = "flavor"

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def list(self) -> list[Flavor]:
        with self.ctx.store.read() as s:
            return list(
                s.exec(
                    select(Flavor).order_by(col(Flavor.ram), col(Flavor.vcpus), col(Flavor.name))
                )
            )

    def get(self, ref: str) -> Flavor:
        with self.ctx.store.read() as s:
            return find(s, Flavor, ref, "flavor")

    @admin_only
    def create(self, name: str, vcpus: int, ram: int, disk: int, ephemeral: int = 0) -> Flavor:
        check_name(name, "flavor name")
        if vcpus < 1 or ram < 64 or disk < 0 or ephemeral < 0:
            raise UsageError("a flavor needs vcpus >= 1, ram >= 64 MiB and disk >= 0 GiB")
        flavor = Flavor(
            id=new_uuid(),
            name=name,
            status="active",
            vcpus=vcpus,
            ram=ram,
            disk=disk,
            ephemeral=ephemeral,
        )
        try:
            with self.ctx.store.write() as s:
                s.add(flavor)
        except IntegrityError:
            raise Conflict(f"a flavor named {name!r} already exists") from None
        return flavor

    @admin_only
    def delete(self, ref: str) -> Flavor:
        # Servers carry a copy of their flavor, as in Nova, so deleting one in use is safe.
        with self.ctx.store.write() as s:
            flavor = find(s, Flavor, ref, "flavor")
            s.delete(flavor)
        return flavor

    def seed(self, flavors: tuple[FlavorConfig, ...]) -> int:
        """Create or update the flavors lab.toml declares. Returns how many changed."""
        changed = 0
        with self.ctx.store.write() as s:
            existing = {f.name: f for f in s.exec(select(Flavor))}
            for want in flavors:
                have = existing.get(want.name)
                if have is None:
                    s.add(
                        Flavor(
                            id=new_uuid(),
                            name=want.name,
                            status="active",
                            vcpus=want.vcpus,
                            ram=want.ram,
                            disk=want.disk,
                            ephemeral=want.ephemeral,
                        )
                    )
                    changed += 1
                elif (have.vcpus, have.ram, have.disk, have.ephemeral) != (
                    want.vcpus,
                    want.ram,
                    want.disk,
                    want.ephemeral,
                ):
                    have.vcpus, have.ram, have.disk = want.vcpus, want.ram, want.disk
                    have.ephemeral = want.ephemeral
                    have.updated_at = utcnow()
                    changed += 1
        return changed
