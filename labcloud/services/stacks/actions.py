"""One resource's create, update and delete, each through the existing service.

Every step is safe to run again: a link already made is skipped, an unlink of what is
gone is fine. That is what lets an apply killed midway be resumed by the next one.
Updates come in two halves: `unlink` (detach, remove, delete rules) runs before any
delete, `link` (attach, add, resize) after what it needs was created.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labcloud.errors import Conflict, LabError, NotFound, UsageError
from labcloud.services.core import CreateRequest
from labcloud.services.l3 import RuleRequest
from labcloud.services.stacks.plan import rule_key
from labcloud.services.stacks.schema import KINDS


class Actions:
    def __init__(self, lab: Any, base_dir: str = ".") -> None:
        self.lab = lab
        self.base_dir = Path(base_dir)

    # -- lookups --------------------------------------------------------------------
    def find(self, kind: str, name: str) -> str | None:
        """The ID of the resource of that name, if there is one (to adopt after a kill)."""
        getter = {
            "flavor": lambda: self.lab.flavors.get(name),
            "image": lambda: self.lab.images.get(name),
            "keypair": lambda: self.lab.keypairs.get(name),
            "network": lambda: self.lab.network.get_network(name),
            "subnet": lambda: self.lab.network.get_subnet(name),
            "router": lambda: self.lab.routers.get(name),
            "security_group": lambda: self.lab.security_groups.get(name)[0],
            "volume": lambda: self.lab.volumes.get(name),
            "server": lambda: self.lab.compute.get(name, sync=False),
            "floating_ip": lambda: self.lab.floating_ips.get(name),  # named by its address
            "project": lambda: self.lab.identity.get_project(name),
            "user": lambda: self.lab.identity.get_user(name)[0],
            "quota": lambda: self.lab.identity.get_project(name),  # a quota's ID is its project's
        }.get(kind)
        if getter is None:
            return None
        try:
            return str(getter().id)
        except NotFound:
            return None

    def bare(self, kind: str, props: dict[str, Any]) -> dict[str, Any]:
        """The spec a resource has right after `create`, before `link` adds the rest."""
        spec = dict(props)
        if kind == "router":
            spec.update(external_gateway="", interfaces=[])
        elif kind == "security_group":
            spec["rules"] = []
        elif kind == "floating_ip":
            spec["server"] = ""
        elif kind == "user":
            spec["roles"] = {}
        return spec

    def _file(self, name: str) -> str:
        path = Path(name)
        return str(path if path.is_absolute() else self.base_dir / path)

    # -- create ---------------------------------------------------------------------
    def create(self, kind: str, name: str, p: dict[str, Any]) -> str:
        lab = self.lab
        if kind == "flavor":
            return str(lab.flavors.create(name, p["vcpus"], p["ram"], p["disk"], p["ephemeral"]).id)
        if kind == "image":
            if p["builtin"]:
                if p["builtin"] != "tiny":
                    raise UsageError(f"unknown builtin image {p['builtin']!r}", "use tiny")
                return str(lab.images.create_builtin(name).id)
            return str(
                lab.images.create(name, self._file(p["file"]), disk_format=p["disk_format"]).id
            )
        if kind == "keypair":
            key = p["public_key"]
            if p["public_key_file"]:
                key = Path(self._file(p["public_key_file"])).read_text()
            return str(lab.keypairs.create(name, key or None).keypair.id)
        if kind == "network":
            return str(
                lab.network.create_network(
                    name,
                    provider_network_type=p["provider_network_type"] or None,
                    provider_segment=p["provider_segment"] or None,
                    external=p["external"],
                    shared=p["shared"],
                    mtu=p["mtu"] or None,
                ).id
            )
        if kind == "subnet":
            return str(
                lab.network.create_subnet(
                    name,
                    p["network"],
                    p["cidr"],
                    gateway=None if p["gateway"] == "none" else p["gateway"],
                    dns_nameservers=p["dns"] or None,
                    enable_dhcp=p["dhcp"],
                ).id
            )
        if kind == "router":
            return str(lab.routers.create(name).id)
        if kind == "security_group":
            return str(lab.security_groups.create(name, p["description"]).id)
        if kind == "volume":
            return str(
                lab.volumes.create(
                    name,
                    p["size"],
                    image=p["image"] or None,
                    volume_type=p["type"] or None,
                    description=p["description"],
                ).id
            )
        if kind == "server":
            return str(self._create_server(name, p).id)
        if kind == "floating_ip":
            return str(lab.floating_ips.create(p["network"], p["address"] or None).id)
        if kind == "project":
            return str(lab.identity.create_project(name, p["description"], p["enabled"]).id)
        if kind == "user":
            return str(lab.identity.create_user(name).id)  # roles: link, once projects exist
        if kind == "quota":
            limits = _limits(p)
            if limits:
                return str(lab.quotas.set(name, limits)[0].id)
            return str(lab.identity.get_project(name).id)
        raise UsageError(f"unknown kind of resource {kind!r}")

    def _create_server(self, name: str, p: dict[str, Any]) -> Any:
        user_data = p["user_data"].encode() if p["user_data"] else None
        if p["user_data_file"]:
            user_data = Path(self._file(p["user_data_file"])).read_bytes()
        request = CreateRequest(
            networks=[n["network"] for n in p["networks"] if not n["fixed_ip"]],
            nics=[
                {"net-id": n["network"], "v4-fixed-ip": n["fixed_ip"]}
                for n in p["networks"]
                if n["fixed_ip"]
            ],
            security_groups=list(p["security_groups"]),
            volumes=list(p["volumes"]),
            key_name=p["keypair"] or None,
            user_data=user_data,
        )
        return self.lab.compute.create(name, p["image"], p["flavor"], request=request)

    # -- update ---------------------------------------------------------------------
    def unlink(
        self, kind: str, rid: str, old: dict[str, Any], new: dict[str, Any], extra: dict[str, Any]
    ) -> None:
        """The removing half of an update: run before anything is deleted."""
        lab = self.lab
        if kind == "router":
            for sub in old["interfaces"]:
                if sub not in new["interfaces"]:
                    _quiet(lambda sub=sub: lab.routers.remove_subnet(rid, sub))
            if old["external_gateway"] and old["external_gateway"] != new["external_gateway"]:
                lab.routers.set_gateway(rid, None)
        elif kind == "security_group":
            keep = {rule_key(r) for r in new["rules"]}
            rules = extra.setdefault("rules", {})
            for key in [k for k in rules if k not in keep]:
                _quiet(lambda rule=rules[key]: lab.security_groups.delete_rule(rule))
                del rules[key]
        elif kind == "server":
            for group in old["security_groups"]:
                if group not in new["security_groups"]:
                    _quiet(lambda g=group: lab.security_groups.remove_from_server(rid, g))
            for vol in old["volumes"]:
                if vol not in new["volumes"]:
                    _quiet(lambda v=vol: lab.volumes.detach(rid, v))
        elif kind == "floating_ip" and old["server"] and old["server"] != new["server"]:
            _quiet(lambda: lab.floating_ips.disassociate(old["server"], rid))
        elif kind == "user":
            for project in old["roles"]:
                if project not in new["roles"]:
                    _quiet(lambda p=project: lab.identity.remove_role(rid, p))

    def link(
        self, kind: str, rid: str, old: dict[str, Any], new: dict[str, Any], extra: dict[str, Any]
    ) -> None:
        """The adding half of an update, and every in-place change."""
        lab = self.lab
        if kind == "network":
            lab.network.set_network(rid, shared=new["shared"], external=new["external"])
        elif kind == "subnet":
            gateway = new["gateway"]
            if gateway in ("auto", old["gateway"]):
                gateway = "keep"  # unchanged, or "auto": the address the subnet already has
            lab.network.set_subnet(
                rid,
                gateway=None if gateway == "none" else gateway,
                dns_nameservers=new["dns"],
                enable_dhcp=new["dhcp"],
            )
        elif kind == "router":
            if new["external_gateway"] and new["external_gateway"] != old["external_gateway"]:
                lab.routers.set_gateway(rid, new["external_gateway"])
            have = {i["subnet"] for i in lab.routers.interfaces(rid) if i["kind"] == "interface"}
            for sub in new["interfaces"]:
                if sub not in have:
                    lab.routers.add_subnet(rid, sub)
        elif kind == "security_group":
            rules = extra.setdefault("rules", {})
            for rule in new["rules"]:
                key = rule_key(rule)
                if key not in rules:
                    rules[key] = self._add_rule(rid, rule)
        elif kind == "volume":
            if new["size"] > old["size"]:
                lab.volumes.extend(rid, new["size"])
        elif kind == "server":
            if new["flavor"] != old["flavor"]:
                lab.compute.resize(rid, new["flavor"])
            have = set(lab.security_groups.server_groups(rid))
            for group in new["security_groups"]:
                if group not in have:
                    lab.security_groups.add_to_server(rid, group)
            attached = {v.name for v in lab.volumes.list() if v.server_id == rid}
            for vol in new["volumes"]:
                if vol not in attached:
                    lab.volumes.attach(rid, vol)
        elif kind == "floating_ip":
            fip = lab.floating_ips.get(rid)
            if new["server"] and not fip.port_id:
                lab.floating_ips.associate(new["server"], rid)
        elif kind == "project":
            if (new["description"], new["enabled"]) != (old["description"], old["enabled"]):
                lab.identity.set_project(
                    rid, description=new["description"], enabled=new["enabled"]
                )
        elif kind == "user":
            for project, role in new["roles"].items():
                if old["roles"].get(project) != role:
                    lab.identity.add_role(rid, project, role)
        elif kind == "quota":
            changed = {k: v for k, v in _limits(new).items() if old.get(k) != v}
            if changed:
                lab.quotas.set(rid, changed)
            dropped = [k for k, v in new.items() if v is None and old.get(k) is not None]
            if dropped:
                lab.quotas.unset(rid, dropped)

    def _add_rule(self, group: str, rule: dict[str, Any]) -> str:
        req = RuleRequest(
            protocol=rule["protocol"],
            dst_port=rule["port"] or None,
            direction=rule["direction"],
            remote_ip=rule["remote_ip"] or None,
            remote_group=rule["remote_group"] or None,
        )
        try:
            return str(self.lab.security_groups.create_rule(group, req).id)
        except Conflict as exc:  # made by an apply killed before it recorded the ID
            if exc.hint:
                return exc.hint
            raise

    # -- delete ---------------------------------------------------------------------
    def delete(self, kind: str, name: str, rid: str, old: dict[str, Any]) -> None:
        lab = self.lab
        try:
            if kind == "router":
                for leg in lab.routers.interfaces(rid):
                    if leg["kind"] == "interface":
                        _quiet(lambda s=leg["subnet_id"]: lab.routers.remove_subnet(rid, s))
                if old.get("external_gateway"):
                    _quiet(lambda: lab.routers.set_gateway(rid, None))
            deleter = {
                "flavor": lab.flavors.delete,
                "image": lab.images.delete,
                "keypair": lab.keypairs.delete,
                "network": lab.network.delete_network,
                "subnet": lab.network.delete_subnet,
                "router": lab.routers.delete,
                "security_group": lab.security_groups.delete,
                "volume": lab.volumes.delete,
                "server": lab.compute.delete,
                "floating_ip": lab.floating_ips.delete,
                "project": lab.identity.delete_project,
                "user": lab.identity.delete_user,
                # lab.toml's defaults apply again to the limits the stack set
                "quota": lambda r: lab.quotas.unset(r, list(_limits(old))),
            }[kind]
            deleter(rid)
            if kind == "image" and old.get("builtin"):
                for part in ("kernel", "ramdisk"):
                    _quiet(lambda n=f"{name}-{part}": lab.images.delete(n))
        except NotFound:
            pass  # gone already: what delete wanted


def _limits(props: dict[str, Any]) -> dict[str, int]:
    """The limits a quota declares; one not given is lab.toml's, so not set."""
    return {k: v for k, v in props.items() if v is not None}


def _quiet(step: Any) -> None:
    """A step whose target may already be gone (a resumed apply)."""
    try:
        step()
    except (NotFound, Conflict) as exc:
        if isinstance(exc, Conflict) and "not on server" not in exc.message:
            raise


__all__ = ["KINDS", "Actions", "LabError"]
