"""Routers (Neutron L3): gateway and interfaces."""

from __future__ import annotations

from typing import Any

from labcloud.screens.action_forms import add_subnet_form, gateway_form, remove_subnet_form
from labcloud.screens.create_forms import router_form
from labcloud.screens.forms import Form
from labcloud.screens.resource import Item, ResourceView, Snapshot, record_of
from textual.binding import Binding


class RoutersView(ResourceView):
    view_name = "routers"
    title = "Routers"
    aliases = ("router", "rt")
    order = 12
    columns = ("Name", "Status", "Gateway network", "Interfaces")
    cli = "labcloud router list"
    noun = "router"

    BINDINGS = [
        Binding("a", "add_subnet", "Add subnet", id="router.add_subnet"),
        Binding("x", "remove_subnet", "Remove subnet", id="router.remove_subnet"),
        Binding("g", "set_gateway", "Gateway", id="router.set_gateway"),
        Binding("n", "clear_gateway", "No gateway", id="router.clear_gateway"),
    ]

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

    # -- actions: `router add/remove subnet`, `router set --[no-]external-gateway` ------
    def action_add_subnet(self) -> None:
        item = self.selected_or_warn()
        if item is not None:
            self.open_form(add_subnet_form(item.cells[0], item.record.get("subnets", [])))

    def action_remove_subnet(self) -> None:
        item = self.selected_or_warn()
        if item is None:
            return
        legs = item.record.get("subnets", [])
        if not legs:
            self.warn(f"router {item.cells[0]} routes no subnet")
            return
        self.open_form(remove_subnet_form(item.cells[0], legs))

    def action_set_gateway(self) -> None:
        item = self.selected_or_warn()
        if item is not None:
            self.open_form(gateway_form(item.cells[0]))

    def action_clear_gateway(self) -> None:
        item = self.selected_or_warn()
        if item is None:
            return
        name, gateway = item.cells[0], item.cells[2]
        if not gateway:
            self.warn(f"router {name} has no gateway")
            return
        self.confirm_call(
            f"Take router {name} off {gateway} (its SNAT and floating IPs stop)?",
            "Clear",
            ["router", "set", name, "--no-external-gateway"],
            lambda: self.lab.routers.set_gateway(item.key, None),
            f"router {name} has no gateway",
        )

    def commands(self) -> list[tuple[str, str, str]]:
        return [
            ("Routers: add subnet", "Give the router an interface on a subnet", "add_subnet"),
            ("Routers: remove subnet", "Remove one of its interfaces", "remove_subnet"),
            ("Routers: set gateway", "Put it on an external network", "set_gateway"),
            ("Routers: clear gateway", "Take it off its external network", "clear_gateway"),
            *super().commands(),
        ]
