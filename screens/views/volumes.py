"""Volumes (Cinder): size, type, status and what each is attached to."""

from __future__ import annotations

from typing import Any

from labcloud.screens.create_forms import volume_form
from labcloud.screens.forms import Form
from labcloud.screens.resource import Item, ResourceView, Snapshot, cell, record_of


class VolumesView(ResourceView):
    view_name = "volumes"
    title = "Volumes"
    aliases = ("volume", "vol")
    order = 6
    columns = ("Name", "Status", "Size", "Type", "Bootable", "Attached to")
    cli = "labcloud volume list"
    noun = "volume"

    def fetch(self) -> Snapshot:
        volumes = self.lab.volumes
        servers = volumes.server_names()
        items = []
        for v in volumes.list():
            where = (
                f"{servers.get(v.server_id, v.server_id)} on /dev/{v.device}" if v.server_id else ""
            )
            items.append(
                Item(
                    v.id,
                    (v.name, v.status, f"{v.size} GiB", v.volume_type, cell(v.bootable), where),
                    record_of(v),
                )
            )
        return Snapshot(items)

    def create_form(self) -> Form:
        return volume_form()

    def delete(self, item: Item) -> Any:
        return self.lab.volumes.delete(item.key)

    def in_use(self, item: Item) -> str:
        return f"is attached to {item.cells[5]}" if item.cells[5] else ""
