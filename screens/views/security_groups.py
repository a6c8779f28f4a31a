"""Security groups (Neutron): the groups, and the selected group's rules in the detail pane."""

from __future__ import annotations

from typing import Any

from labcloud.screens.action_forms import delete_rule_form
from labcloud.screens.create_forms import rule_form
from labcloud.screens.forms import Form
from labcloud.screens.resource import Item, ResourceView, Snapshot, record_of
from textual.binding import Binding


def rule_line(r: Any, groups: dict[str, str]) -> str:
    proto = r.protocol or "any"
    ports = ""
    if r.port_range_min is not None:
        hi = r.port_range_max
        ports = f" {r.port_range_min}" + (f":{hi}" if hi not in (None, r.port_range_min) else "")
    remote = r.remote_ip_prefix or (
        f"group {groups.get(r.remote_group_id, r.remote_group_id)}" if r.remote_group_id else "any"
    )
    return f"{r.direction:7} {r.ethertype} {proto}{ports} from {remote}  [{r.id[:8]}]"


class SecurityGroupsView(ResourceView):
    view_name = "secgroups"
    title = "Security groups"
    aliases = ("security-groups", "security", "sg")
    order = 8
    columns = ("Name", "Rules", "Description")
    cli = "labcloud security group list"
    noun = "security group"

    BINDINGS = [Binding("x", "delete_rule", "Remove rule", id="rule.delete")]

    def fetch(self) -> Snapshot:
        sgs = self.lab.security_groups
        every_rule = sgs.list_rules()  # first: it makes the project's default group if new
        groups = sgs.group_names()
        rules: dict[str, list[Any]] = {}
        for r in every_rule:
            rules.setdefault(r.security_group_id, []).append(r)
        items = []
        for g in sgs.list():
            mine = rules.get(g.id, [])
            record = record_of(g) | {"rules": [rule_line(r, groups) for r in mine]}
            record["rule_ids"] = [r.id for r in mine]
            items.append(Item(g.id, (g.name, str(len(mine)), g.description), record))
        return Snapshot(items)

    def detail(self, item: Item | None) -> str:
        if item is None:
            return "(nothing selected)"
        rules = item.record.get("rules", [])
        head = f"security group {item.cells[0]}  id {item.key}\n"
        if item.cells[2]:  # cut in the table, whole here
            head += f"{item.cells[2]}\n"
        return head + "rules:\n" + ("\n".join(f"  {r}" for r in rules) or "  (none)")

    def create_form(self) -> Form:
        item = self.selected()
        return rule_form(item.cells[0] if item else "default")

    def delete(self, item: Item) -> Any:
        return self.lab.security_groups.delete(item.key)

    def in_use(self, item: Item) -> str:
        return "is every new server's group" if item.cells[0] == "default" else ""

    # -- `security group rule delete`: one rule of the selected group ------
    def action_delete_rule(self) -> None:
        item = self.selected_or_warn()
        if item is None:
            return
        group = item.cells[0]
        if not item.record.get("rule_ids"):
            self.warn(f"security group {group} has no rules")
            return

        def rules(lab: Any) -> list[tuple[str, str]]:
            names = lab.security_groups.group_names()
            return [(rule_line(r, names), r.id) for r in lab.security_groups.list_rules(item.key)]

        self.open_form(delete_rule_form(group, rules))

    def commands(self) -> list[tuple[str, str, str]]:
        return [
            ("Security groups: remove rule", "Pick one of its rules to remove", "delete_rule"),
            *super().commands(),
        ]
