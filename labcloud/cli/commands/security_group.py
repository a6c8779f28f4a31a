"""security group create|list|show|delete, security group rule create|list|delete,
server add|remove security group, port add|remove security group"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labcloud.cli.each import each
from labcloud.cli.output import Record, Table
from labcloud.cli.registry import arg, command
from labcloud.services.l3 import RuleRequest

if TYPE_CHECKING:
    from labcloud.lab import Lab

RULE_COLUMNS = (
    "ID",
    "IP Protocol",
    "Ethertype",
    "IP Range",
    "Port Range",
    "Direction",
    "Remote Security Group",
    "Security Group",
)


def _ports(r: Any) -> str:
    if r.port_range_min is None:
        return ""
    return f"{r.port_range_min}:{r.port_range_max}"


def _rule_row(r: Any, names: dict[str, str]) -> tuple[Any, ...]:
    return (
        r.id,
        r.protocol or "any",
        r.ethertype,
        r.remote_ip_prefix or "",
        _ports(r),
        r.direction,
        names.get(r.remote_group_id or "", r.remote_group_id or ""),
        names.get(r.security_group_id, r.security_group_id),
    )


def _rule_text(r: Any, names: dict[str, str]) -> str:
    parts = [f"direction='{r.direction}'", f"ethertype='{r.ethertype}'"]
    if r.protocol:
        parts.append(f"protocol='{r.protocol}'")
    if r.port_range_min is not None:
        parts.append(f"port_range_max='{r.port_range_max}', port_range_min='{r.port_range_min}'")
    if r.remote_ip_prefix:
        parts.append(f"remote_ip_prefix='{r.remote_ip_prefix}'")
    if r.remote_group_id:
        parts.append(f"remote_group='{names.get(r.remote_group_id, r.remote_group_id)}'")
    return ", ".join(parts)


def _group_record(lab: Lab, group: Any, rules: list[Any]) -> Record:
    names = lab.security_groups.group_names()
    return Record(
        {
            "id": group.id,
            "name": group.name,
            "description": group.description,
            "rules": "\n".join(_rule_text(r, names) for r in rules),
            "project_id": group.project_id,
            "created_at": group.created_at,
            "updated_at": group.updated_at,
        }
    )


@command(
    "security",
    "group",
    "create",
    help="Create a security group (it allows all egress until you add rules)",
    example="labcloud security group create web",
    args=(arg("name"), arg("--description", default="")),
)
def sg_create(lab: Lab, a: Any) -> Record:
    group = lab.security_groups.create(a.name, a.description)
    return _group_record(lab, *lab.security_groups.get(group.id))


@command(
    "security", "group", "list", help="List security groups", example="labcloud security group list"
)
def sg_list(lab: Lab, a: Any) -> Table:
    return Table(
        ("ID", "Name", "Description", "Project"),
        [(g.id, g.name, g.description, g.project_id) for g in lab.security_groups.list()],
    )


@command(
    "security",
    "group",
    "show",
    help="Show a security group and its rules",
    example="labcloud security group show default",
    args=(arg("group"),),
)
def sg_show(lab: Lab, a: Any) -> Record:
    return _group_record(lab, *lab.security_groups.get(a.group))


@command(
    "security",
    "group",
    "delete",
    help="Delete security groups (refused while ports use them)",
    example="labcloud security group delete web",
    args=(arg("group", nargs="+"),),
)
def sg_delete(lab: Lab, a: Any) -> str:
    return each(a.group, lab.security_groups.delete)


@command(
    "security",
    "group",
    "rule",
    "create",
    help="Add a rule to a security group; the node's filter is reloaded at once",
    example="labcloud security group rule create web --protocol tcp --dst-port 80 "
    "--remote-ip 0.0.0.0/0",
    args=(
        arg("group"),
        arg("--protocol", default="any", help="tcp, udp, icmp or any (default)"),
        arg("--dst-port", metavar="N[:M]", help="destination port or range (tcp, udp)"),
        arg("--ingress", dest="direction", action="store_const", const="ingress"),
        arg("--egress", dest="direction", action="store_const", const="egress"),
        arg("--remote-ip", metavar="CIDR", help="peer addresses (default 0.0.0.0/0)"),
        arg("--remote-group", metavar="GROUP", help="peers: the members of this group"),
        arg("--ethertype", default="IPv4", help="IPv4 (the only one supported)"),
        arg("--description", default=""),
    ),
)
def sg_rule_create(lab: Lab, a: Any) -> Record:
    rule = lab.security_groups.create_rule(
        a.group,
        RuleRequest(
            protocol=a.protocol,
            dst_port=a.dst_port,
            direction=a.direction or "ingress",
            remote_ip=a.remote_ip,
            remote_group=a.remote_group,
            ethertype=a.ethertype,
            description=a.description,
        ),
    )
    names = lab.security_groups.group_names()
    return Record(
        dict(
            zip(
                [c.lower().replace(" ", "_") for c in RULE_COLUMNS],
                _rule_row(rule, names),
                strict=True,
            )
        )
    )


@command(
    "security",
    "group",
    "rule",
    "list",
    help="List security group rules (of one group, or all the project's)",
    example="labcloud security group rule list default",
    args=(arg("group", nargs="?"),),
)
def sg_rule_list(lab: Lab, a: Any) -> Table:
    names = lab.security_groups.group_names()
    rules = lab.security_groups.list_rules(a.group)
    return Table(RULE_COLUMNS, [_rule_row(r, names) for r in rules])


@command(
    "security",
    "group",
    "rule",
    "delete",
    help="Delete security group rules",
    example="labcloud security group rule delete RULE_ID",
    args=(arg("rule", nargs="+"),),
)
def sg_rule_delete(lab: Lab, a: Any) -> str:
    return each(a.rule, lab.security_groups.delete_rule)


@command(
    "server",
    "add",
    "security",
    "group",
    help="Add a security group to a server's ports",
    example="labcloud server add security group web1 web",
    args=(arg("server"), arg("group")),
)
def server_add_sg(lab: Lab, a: Any) -> str:
    lab.security_groups.add_to_server(a.server, a.group)
    return ""


@command(
    "server",
    "remove",
    "security",
    "group",
    help="Remove a security group from a server's ports",
    example="labcloud server remove security group web1 web",
    args=(arg("server"), arg("group")),
)
def server_remove_sg(lab: Lab, a: Any) -> str:
    lab.security_groups.remove_from_server(a.server, a.group)
    return ""


@command(
    "port",
    "add",
    "security",
    "group",
    help="Add a security group to a port (e.g. an unbound port you plugged yourself)",
    example="labcloud port add security group p1 default",
    args=(arg("port"), arg("group")),
)
def port_add_sg(lab: Lab, a: Any) -> str:
    lab.security_groups.add_to_port(a.port, a.group)
    return ""


@command(
    "port",
    "remove",
    "security",
    "group",
    help="Remove a security group from a port",
    example="labcloud port remove security group p1 default",
    args=(arg("port"), arg("group")),
)
def port_remove_sg(lab: Lab, a: Any) -> str:
    lab.security_groups.remove_from_port(a.port, a.group)
    return ""
