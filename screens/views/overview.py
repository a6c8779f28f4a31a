"""Overview: the lab at a glance (what `labcloud status` prints), the current project's
quota usage as bars (`labcloud quota show`), and the latest events."""

from __future__ import annotations

from collections import Counter
from typing import Any

from labcloud.screens.resource import Item, ResourceView, Snapshot, cell

from labcloud.errors import BackendError

# The quotas a student runs into first; `:quota` would be the whole list.
BARS = ("instances", "cores", "ram", "volumes", "gigabytes", "floating_ips", "networks")
BAR_WIDTH = 12


def bar(used: int, limit: int) -> str:
    """`█████░░░░░░░  5/12`; unlimited shows the count alone."""
    if limit < 0:
        return f"{used} (unlimited)"
    filled = BAR_WIDTH if limit == 0 else min(BAR_WIDTH, round(BAR_WIDTH * used / limit))
    over = "  OVER" if used > limit else ""
    return f"{'█' * filled}{'░' * (BAR_WIDTH - filled)}  {used}/{limit}{over}"


class OverviewView(ResourceView):
    view_name = "overview"
    title = "Overview"
    aliases = ("status", "home")
    order = 1
    columns = ("Property", "Value")
    cli = "labcloud status"
    max_cell = 1000  # the values (paths, the libvirt URI) are not in a detail pane: never cut

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
        _, quota = lab.quotas.show()
        rows |= {f"quota {q.resource}": bar(q.in_use, q.limit) for q in quota if q.resource in BARS}
        events = [
            f"{e.at:%H:%M:%S} {e.resource_type} {e.resource_name}: {e.message}"
            for e in lab.identity.events(12)
        ]
        items = [Item(k, (k, cell(v)), {"events": events}) for k, v in rows.items()]
        return Snapshot(items, note)

    def detail(self, item: Item | None) -> str:
        events = self.items[0].record["events"] if self.items else []
        return "Recent events (newest first)\n" + ("\n".join(events) or "(none yet)")
