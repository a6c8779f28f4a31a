"""Volumes (Cinder): size, type, status and what each is attached to."""

from __future__ import annotations

from typing import Any

from labcloud.screens.action_forms import attach_volume_form
from labcloud.screens.create_forms import volume_form
from labcloud.screens.forms import Form
from labcloud.screens.resource import Item, ResourceView, Snapshot, cell, record_of
from textual.binding import Binding


class VolumesView(ResourceView):
    view_name = "volumes"
    title = "Volumes"
    aliases = ("volume", "vol")
    order = 6
    columns = ("Name", "Status", "Size", "Type", "Bootable", "Attached to")
    cli = "labcloud volume list"
    noun = "volume"

    BINDINGS = [
        Binding("a", "attach", "Attach", id="volume.attach"),
        Binding("x", "detach", "Detach", id="volume.detach"),
    ]

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
                    record_of(v) | {"server_name": servers.get(v.server_id or "", "")},
                )
            )
        return Snapshot(items)

    def create_form(self) -> Form:
        return volume_form()

    def delete(self, item: Item) -> Any:
        return self.lab.volumes.delete(item.key)

    def in_use(self, item: Item) -> str:
        return f"is attached to {item.cells[5]}" if item.cells[5] else ""

    # -- actions: `server add volume`, `server remove volume` ------
    def action_attach(self) -> None:
        item = self.selected_or_warn()
        if item is None:
            return
        if item.record.get("server_id"):
            self.warn(f"volume {item.cells[0]} is attached to {item.cells[5]}")
            return
        self.open_form(attach_volume_form(item.cells[0]))

    def action_detach(self) -> None:
        item = self.selected_or_warn()
        if item is None:
            return
        server, name = item.record.get("server_name", ""), item.cells[0]
        if not server:
            self.warn(f"volume {name} is not attached")
            return
        self.confirm_call(
            f"Detach volume {name} from {server}?",
            "Detach",
            ["server", "remove", "volume", server, name],
            lambda: self.lab.volumes.detach(item.record["server_id"], item.key),
            f"volume {name} detached from {server}",
        )

    def commands(self) -> list[tuple[str, str, str]]:
        return [
            ("Volumes: attach", "Attach the selected volume to a server", "attach"),
            ("Volumes: detach", "Detach the selected volume from its server", "detach"),
            *super().commands(),
        ]
