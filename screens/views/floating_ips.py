"""Floating IPs (Neutron L3): addresses from an external network and where they point."""

from __future__ import annotations

from typing import Any

from labcloud.screens.create_forms import floating_ip_form
from labcloud.screens.forms import Form
from labcloud.screens.resource import Item, ResourceView, Snapshot, record_of


class FloatingIPsView(ResourceView):
    view_name = "floatingips"
    title = "Floating IPs"
    aliases = ("floating", "fip", "fips")
    order = 9
    columns = ("Address", "Status", "Network", "Fixed IP", "Port")
    cli = "labcloud floating ip list"
    noun = "floating ip"

    def fetch(self) -> Snapshot:
        fips = self.lab.floating_ips
        nets = fips.network_names()
        return Snapshot(
            [
                Item(
                    f.id,
                    (
                        f.floating_ip_address,
                        f.status,
                        nets.get(f.floating_network_id, f.floating_network_id),
                        f.fixed_ip_address or "",
                        (f.port_id or "")[:8],
                    ),
                    record_of(f),
                )
                for f in fips.list()
            ]
        )

    def create_form(self) -> Form:
        return floating_ip_form()

    def delete(self, item: Item) -> Any:
        return self.lab.floating_ips.delete(item.key)

    def in_use(self, item: Item) -> str:
        return f"points at {item.cells[3]}" if item.cells[3] else ""
