"""Floating IPs (Neutron L3): addresses from an external network and where they point."""

from __future__ import annotations

from typing import Any

from labcloud.screens.action_forms import associate_fip_form
from labcloud.screens.create_forms import floating_ip_form
from labcloud.screens.forms import Form
from labcloud.screens.resource import Item, ResourceView, Snapshot, record_of
from textual.binding import Binding


class FloatingIPsView(ResourceView):
    view_name = "floatingips"
    title = "Floating IPs"
    aliases = ("floating", "fip", "fips")
    order = 9
    columns = ("Address", "Status", "Network", "Fixed IP", "Server")
    cli = "labcloud floating ip list"
    noun = "floating ip"

    BINDINGS = [
        Binding("a", "associate", "Associate", id="floatingip.associate"),
        Binding("x", "disassociate", "Disassociate", id="floatingip.disassociate"),
    ]

    def fetch(self) -> Snapshot:
        fips = self.lab.floating_ips
        nets = fips.network_names()
        # Which server each port belongs to: two store reads, not one per row.
        servers = {s.id: s.name for s in self.lab.compute.list(sync=False)}
        owners = {p.id: p.device_id for p in self.lab.network.list_ports()}
        items = []
        for f in fips.list():
            server_id = owners.get(f.port_id or "", "")
            server = servers.get(server_id, "")
            items.append(
                Item(
                    f.id,
                    (
                        f.floating_ip_address,
                        f.status,
                        nets.get(f.floating_network_id, f.floating_network_id),
                        f.fixed_ip_address or "",
                        server,
                    ),
                    record_of(f) | {"server": server, "server_id": server_id},
                )
            )
        return Snapshot(items)

    def create_form(self) -> Form:
        return floating_ip_form()

    def delete(self, item: Item) -> Any:
        return self.lab.floating_ips.delete(item.key)

    def in_use(self, item: Item) -> str:
        return f"points at {item.cells[3]}" if item.cells[3] else ""

    # -- actions: `server add floating ip`, `server remove floating ip` ------
    def action_associate(self) -> None:
        item = self.selected_or_warn()
        if item is None:
            return
        if item.record.get("port_id"):
            self.warn(f"floating IP {item.cells[0]} already points at {item.cells[3]}")
            return
        self.open_form(associate_fip_form(item.cells[0]))

    def action_disassociate(self) -> None:
        item = self.selected_or_warn()
        if item is None:
            return
        address, server = item.cells[0], item.record.get("server", "")
        if not item.record.get("port_id"):
            self.warn(f"floating IP {address} is not on a server")
            return
        self.confirm_call(
            f"Take floating IP {address} off {server or 'its server'}?",
            "Disassociate",
            ["server", "remove", "floating", "ip", server, address],
            lambda: self.lab.floating_ips.disassociate(item.record["server_id"], item.key),
            f"floating IP {address} is free",
        )

    def commands(self) -> list[tuple[str, str, str]]:
        return [
            ("Floating IPs: associate", "Put the selected address on a server", "associate"),
            ("Floating IPs: disassociate", "Take it off its server", "disassociate"),
            *super().commands(),
        ]
