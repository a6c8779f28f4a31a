"""Routers (Neutron L3): gateway and interfaces."""

from __future__ import annotations

from typing import Any

from labcloud.screens.create_forms import router_form
from labcloud.screens.forms import Form
from labcloud.screens.resource import Item, ResourceView, Snapshot, record_of


class RoutersView(ResourceView):
    view_name = "routers"
    title = "Routers"
    aliases = ("router", "rt")
    order = 12
    columns = ("Name", "Status", "Gateway network", "Interfaces")
    cli = "labcloud router list"
    noun = "router"

    def fetch(self) -> Snapshot:
        routers = self.lab.routers
        nets = {n.id: n.name for n in self.lab.network.list_networks()}
        items = []
        for r in routers.list():
            ifaces = routers.interfaces(r.id)
            addresses = ", ".join(i.get("ip_address", "") for i in ifaces)
            gateway = nets.get(r.external_network_id or "", r.external_network_id or "")
            legs = [i["subnet"] for i in ifaces if i.get("kind") == "interface"]
            record = record_of(r) | {"interfaces": addresses or "none", "subnets": legs}
            items.append(Item(r.id, (r.name, r.status, gateway, addresses), record))
        return Snapshot(items)

    def create_form(self) -> Form:
        return router_form()

    def delete(self, item: Item) -> Any:
        return self.lab.routers.delete(item.key)

    def in_use(self, item: Item) -> str:
        legs = item.record.get("subnets", [])
        return f"routes subnets {', '.join(legs)}" if legs else ""
