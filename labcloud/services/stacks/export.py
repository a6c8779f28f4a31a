"""What exists in a project, as the declared properties a stack file would give it, and
as TOML text that `stack apply` accepts (and, with --adopt, takes over unchanged).

Flavors and images are left out (lab.toml seeds flavors; an image's file cannot be
written into TOML): servers name them as resources that already exist. A group's
automatic egress rule is left out too, since every new group gets it anyway.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlmodel import select

from labcloud.db.models import ServerSeed
from labcloud.services.l3 import DEFAULT
from labcloud.services.stacks.schema import KINDS, REQUIRED

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def current(lab: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, name) -> properties, for the resources of the current project."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    nets = {n.id: n.name for n in lab.network.list_networks()}
    {s.id: s.name for s in lab.network.list_subnets()}
    images = {i.id: i for i in lab.images.list()}
    servers = {s.id: s.name for s in lab.compute.list(sync=False)}
    for kp in lab.keypairs.list():
        out[("keypair", kp.name)] = {"public_key": kp.public_key, "public_key_file": ""}
    for net in lab.network.list_networks():
        if net.project_id != lab.ctx.project.id:
            continue
        out[("network", net.name)] = {
            "external": net.external,
            "shared": net.shared,
            "provider_network_type": net.provider_network_type,
            "provider_segment": net.provider_segment or 0,
            "mtu": net.mtu,
        }
    for sub in lab.network.list_subnets():
        if sub.project_id != lab.ctx.project.id:
            continue
        out[("subnet", sub.name)] = {
            "network": nets.get(sub.network_id, sub.network_id),
            "cidr": sub.cidr,
            "gateway": sub.gateway_ip or "none",
            "dhcp": sub.enable_dhcp,
            "dns": json.loads(sub.dns_nameservers or "[]"),
        }
    for router in lab.routers.list():
        legs = lab.routers.interfaces(router.id)
        out[("router", router.name)] = {
            "external_gateway": nets.get(router.external_network_id or "", ""),
            "interfaces": [leg["subnet"] for leg in legs if leg["kind"] == "interface"],
        }
    groups = {g.id: g.name for g in lab.security_groups.list()}
    for gid, gname in groups.items():
        if gname == DEFAULT:
            continue
        rules = []
        for r in lab.security_groups.list_rules(gid):
            anything = r.protocol or r.remote_ip_prefix or r.port_range_min or r.remote_group_id
            if r.direction == "egress" and not anything:
                continue  # the rule every new group gets
            port = ""
            if r.port_range_min is not None:
                port = str(r.port_range_min)
                if r.port_range_max not in (None, r.port_range_min):
                    port += f":{r.port_range_max}"
            remote_ip = r.remote_ip_prefix or ""
            if r.direction == "ingress" and remote_ip == "0.0.0.0/0":
                remote_ip = ""
            rules.append(
                {
                    "direction": r.direction,
                    "protocol": r.protocol or "any",
                    "port": port,
                    "remote_ip": remote_ip,
                    "remote_group": groups.get(r.remote_group_id or "", ""),
                }
            )
        out[("security_group", gname)] = {"description": "", "rules": rules}
    for vol in lab.volumes.list():
        if vol.boot_index == 0:
            continue  # a server's boot volume goes with the server
        out[("volume", vol.name)] = {
            "size": vol.size,
            "image": images[vol.source_image_id].name if vol.source_image_id in images else "",
            "type": vol.volume_type,
            "description": vol.description,
        }
    vols_by_server: dict[str, list[str]] = {}
    for vol in lab.volumes.list():
        if vol.server_id and vol.boot_index != 0:
            vols_by_server.setdefault(vol.server_id, []).append(vol.name)
    with lab.ctx.store.read() as s:
        seeds = {x.server_id: x.key_name for x in s.exec(select(ServerSeed))}
    for server in lab.compute.list(sync=False):
        ports = lab.network.server_ports(server.id)
        groups_of = [g for g in lab.security_groups.server_groups(server.id) if g != DEFAULT]
        out[("server", server.name)] = {
            "image": images[server.image_id].name if server.image_id in images else "",
            "flavor": server.flavor_name,
            "count": 1,
            "networks": [
                {"network": nets.get(p.network_id, p.network_id), "fixed_ip": ""}
                for p in sorted(ports, key=lambda p: p.device_index)
            ],
            "security_groups": groups_of,
            "volumes": sorted(vols_by_server.get(server.id, [])),
            "keypair": seeds.get(server.id) or "",
        }
    for fip in lab.floating_ips.list():
        server = ""
        if fip.port_id:
            port = lab.network.get_port(fip.port_id)
            server = servers.get(port.device_id, "")
        out[("floating_ip", fip.floating_ip_address)] = {
            "network": nets.get(fip.floating_network_id, fip.floating_network_id),
            "server": server,
            "address": fip.floating_ip_address,
        }
    return out


def identity(lab: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, name) -> properties of the projects, users and quota overrides the caller
    can see: what plan reads back (a role removed by hand) and what --adopt takes over."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for project in lab.identity.list_projects():
        out[("project", project.name)] = {
            "description": project.description,
            "enabled": project.enabled,
        }
        out[("quota", project.name)] = quota_spec(lab.quotas.overrides(project.id)[1])
    for user, roles in lab.identity.list_users():
        out[("user", user.name)] = {"roles": {a.project: a.role for a in roles}}
    return out


def quota_spec(overrides: dict[str, int]) -> dict[str, Any]:
    """A [quota.PROJECT] table's properties: None where lab.toml's default applies."""
    return {key: overrides.get(key) for key in KINDS["quota"]}


def to_toml(specs: dict[tuple[str, str], dict[str, Any]], header: str = "") -> str:
    """The specs as a stack file: one table per resource, defaults left out."""
    lines = [f"# {line}" for line in header.splitlines()]
    for kind, fields in KINDS.items():
        for (k, name), props in sorted(specs.items()):
            if k != kind:
                continue
            lines += ["", f"[{kind}.{_key(name)}]"]
            for key, f in fields.items():
                value = props.get(key, f.default)
                if value is REQUIRED or (f.default is not REQUIRED and value == f.default):
                    continue
                lines.append(f"{key} = {_value(value, key)}")
    return "\n".join(lines).lstrip("\n") + "\n"


def _key(name: str) -> str:
    return name if _BARE.match(name) else json.dumps(name)


def _value(value: Any, key: str = "") -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        if key == "networks" and not value.get("fixed_ip"):
            return json.dumps(value["network"])
        inner = ", ".join(f"{k} = {_value(v)}" for k, v in value.items() if v not in ("", None))
        return "{ " + inner + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v, key) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
