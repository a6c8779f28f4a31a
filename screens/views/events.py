"""Events: what happened in the lab, newest first (as `labcloud event list`)."""

from __future__ import annotations

from labcloud.screens.resource import Item, ResourceView, Snapshot, record_of


class EventsView(ResourceView):
    view_name = "events"
    title = "Events"
    aliases = ("event", "ev")
    order = 11
    columns = ("At", "Type", "Name", "Message")
    cli = "labcloud event list --limit 100"

    def fetch(self) -> Snapshot:
        return Snapshot(
            [
                Item(
                    str(e.id),
                    (e.at.strftime("%m-%d %H:%M:%S"), e.resource_type, e.resource_name, e.message),
                    record_of(e),
                )
                for e in self.lab.identity.events(100)
            ]
        )
