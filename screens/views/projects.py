"""Projects (Keystone): the tenants of the lab."""

from __future__ import annotations

from labcloud.screens.resource import Item, ResourceView, Snapshot, cell, record_of


class ProjectsView(ResourceView):
    view_name = "projects"
    title = "Projects"
    aliases = ("project", "tenants")
    order = 10
    columns = ("Name", "Enabled", "Description")
    cli = "labcloud project list"

    def fetch(self) -> Snapshot:
        return Snapshot(
            [
                Item(p.id, (p.name, cell(p.enabled), p.description), record_of(p))
                for p in self.lab.identity.list_projects()
            ]
        )
