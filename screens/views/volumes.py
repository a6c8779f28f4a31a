"""Volumes (Cinder): size, type, status and what each is attached to."""

from __future__ import annotations

from labcloud.screens.resource import Item, ResourceView, Snapshot, cell, record_of


class VolumesView(ResourceView):
    view_name = "volumes"
    title = "Volumes"
    aliases = ("volume", "vol")
    order = 6
    columns = ("Name", "Status", "Size", "Type", "Bootable", "Attached to")
    cli = "labcloud volume list"

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
