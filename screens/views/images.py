"""Images (Glance)."""

from __future__ import annotations

from typing import Any

from labcloud.screens.create_forms import image_form
from labcloud.screens.forms import Form
from labcloud.screens.resource import Item, ResourceView, Snapshot, cell, record_of


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(n)


class ImagesView(ResourceView):
    view_name = "images"
    title = "Images"
    aliases = ("image", "img")
    order = 3
    columns = ("Name", "Status", "Disk Format", "Size", "Visibility")
    cli = "labcloud image list"
    noun = "image"

    def fetch(self) -> Snapshot:
        return Snapshot(
            [
                Item(
                    i.id,
                    (i.name, i.status, i.disk_format, human_size(i.size), cell(i.visibility)),
                    record_of(i),
                )
                for i in self.lab.images.list()
            ]
        )

    def create_form(self) -> Form:
        return image_form()

    def delete(self, item: Item) -> Any:
        return self.lab.images.delete(item.key)

    def in_use(self, item: Item) -> str:
        return "is protected" if item.record.get("protected") else ""
