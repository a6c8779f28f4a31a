"""Networks (Neutron): each network with its subnets; `t` opens the topology view."""

from __future__ import annotations

from typing import Any

from labcloud.screens.create_forms import network_form
from labcloud.screens.forms import Form
from labcloud.screens.resource import Item, ResourceView, Snapshot, cell, record_of


class NetworksView(ResourceView):
    view_name = "networks"
    title = "Networks"
    aliases = ("network", "net")
    order = 5
    columns = ("Name", "Status", "Subnets", "Type", "External", "Shared", "MTU")
    cli = "labcloud network list"
    noun = "network"

    def fetch(self) -> Snapshot:
        network = self.lab.network
        subnets: dict[str, list[str]] = {}
        for sub in network.list_subnets():
            subnets.setdefault(sub.network_id, []).append(f"{sub.name} {sub.cidr}")
        items = []
        for n in network.list_networks():
            record = record_of(n) | {"subnets": "; ".join(subnets.get(n.id, [])) or "none"}
            items.append(
                Item(
                    n.id,
                    (
                        n.name,
                        n.status,
                        ", ".join(s.split()[1] for s in subnets.get(n.id, [])),
                        n.provider_network_type,
                        cell(n.external),
                        cell(n.shared),
                        cell(n.mtu),
                    ),
                    record,
                )
            )
        return Snapshot(items)

    def create_form(self) -> Form:
        return network_form()

    def delete(self, item: Item) -> Any:
        return self.lab.network.delete_network(item.key)

    def in_use(self, item: Item) -> str:
        return f"has subnets ({item.cells[2]})" if item.cells[2] else ""
