"""Overview: the lab at a glance (what `labcloud status` prints) and the latest events."""

from __future__ import annotations

from collections import Counter
from typing import Any

from labcloud.screens.resource import Item, ResourceView, Snapshot, cell

from labcloud.errors import BackendError


class OverviewView(ResourceView):
    view_name = "overview"
    title = "Overview"
    aliases = ("status", "home")
    order = 1
    columns = ("Property", "Value")
    cli = "labcloud status"

    def __init__(self, lab: Any) -> None:
        super().__init__(lab)
        self.events: list[str] = []

    def fetch(self) -> Snapshot:
        lab, site = self.lab, self.lab.config.site
        libvirt, note = "ok", ""
        try:
            servers = lab.compute.list()
        except BackendError as exc:
            servers = lab.compute.list(sync=False)
            libvirt, note = f"unreachable: {exc.message}", "libvirt unreachable"
        by_status = Counter(s.status for s in servers)
        rows = {
            "project": lab.project_name,
            "servers": ", ".join(f"{n} {st}" for st, n in sorted(by_status.items())) or "none",
            "images": len(lab.images.list()),
            "flavors": len(lab.flavors.list()),
            "libvirt": libvirt,
            "libvirt_uri": site.libvirt_uri,
            "lab_file": lab.config.source,
            "state_dir": site.state_dir,
        }
        events = [
            f"{e.at:%H:%M:%S} {e.resource_type} {e.resource_name}: {e.message}"
            for e in lab.identity.events(12)
        ]
        items = [Item(k, (k, cell(v)), {"events": events}) for k, v in rows.items()]
        return Snapshot(items, note)

    def detail(self, item: Item | None) -> str:
        events = self.items[0].record["events"] if self.items else []
        return "Recent events (newest first)\n" + ("\n".join(events) or "(none yet)")
