"""Flavors (Nova): the sizes a server can have."""

from __future__ import annotations

from labcloud.screens.resource import Item, ResourceView, Snapshot, cell, record_of


class FlavorsView(ResourceView):
    view_name = "flavors"
    title = "Flavors"
    aliases = ("flavor", "fl")
    order = 4
    columns = ("Name", "VCPUs", "RAM (MiB)", "Disk (GiB)", "Ephemeral", "Public")
    cli = "labcloud flavor list"

    def fetch(self) -> Snapshot:
        return Snapshot(
            [
                Item(
                    f.id,
                    tuple(map(cell, (f.name, f.vcpus, f.ram, f.disk, f.ephemeral, f.is_public))),
                    record_of(f),
                )
                for f in self.lab.flavors.list()
            ]
        )
