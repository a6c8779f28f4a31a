"""The typed schema of a stack file, and its validation into declarations.

A stack file (lab.toml, or any TOML file given to `stack` commands) declares resources
as tables keyed by kind and name, e.g. `[server.web]`, `[network.lan]`. Field types,
defaults, what each field references and whether a change is made in place ("update")
or needs a new resource ("replace") are all written down here, once; plan, refs and the
docs read them from here.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field
from typing import Any

from labcloud.errors import ConfigError, LabError
from labcloud.names import check_name
from labcloud.services.core import RESOURCES, ROLES
from labcloud.services.stacks.params import Parameters, substitute
from labcloud.services.stacks.source import SourceFile

REQUIRED = object()


@dataclass(frozen=True)
class F:
    """One field of a resource: its type, default, reference and how a change is made."""

    type: str  # str | int | bool | strs | rules | nics | roles
    default: Any = REQUIRED
    ref: str | None = None  # the kind this value (or each item) names
    change: str = "replace"  # replace: a new resource; update: changed in place
    doc: str = ""


RULE_FIELDS: dict[str, F] = {
    "direction": F("str", "ingress", doc="ingress | egress"),
    "protocol": F("str", "any", doc="tcp | udp | icmp | any"),
    "port": F("str", "", doc="a port or a range, e.g. 22 or 8000:8080"),
    "remote_ip": F("str", "", doc="a CIDR (ingress defaults to 0.0.0.0/0)"),
    "remote_group": F("str", "", ref="security_group", doc="a group whose members may reach"),
}
NIC_FIELDS: dict[str, F] = {
    "network": F("str", ref="network"),
    "fixed_ip": F("str", "", doc="an address on the network's subnet"),
}

KINDS: dict[str, dict[str, F]] = {
    # Identity: admin resources, made through IdentityService and QuotaService. A project
    # declared here is only created: the stack's other resources go in the project the
    # stack is applied in (`--project`), as a stack belongs to one project.
    "project": {
        "description": F("str", "", change="update"),
        "enabled": F("bool", True, change="update"),
    },
    "user": {
        "roles": F(
            "roles",
            {},
            ref="project",
            change="update",
            doc='a role per project, e.g. { demo = "member" } (reader | member | admin)',
        ),
    },
    # [quota.PROJECT]: limits set for that project; a limit not given keeps lab.toml's.
    "quota": {name: F("int", None, change="update", doc="-1 is unlimited") for name in RESOURCES},
    "flavor": {
        "vcpus": F("int"),
        "ram": F("int", doc="MiB"),
        "disk": F("int", 0, doc="GiB"),
        "ephemeral": F("int", 0),
    },
    "image": {
        "builtin": F("str", "", doc="a built-in image: tiny"),
        "file": F("str", "", doc="a file to import, relative to the stack file"),
        "disk_format": F("str", "auto"),
    },
    "keypair": {
        "public_key": F("str", "", doc="an OpenSSH public key"),
        "public_key_file": F("str", "", doc="a file holding one, relative to the stack file"),
    },
    "network": {
        "external": F("bool", False, change="update"),
        "shared": F("bool", False, change="update"),
        "provider_network_type": F("str", "", doc="flat | vlan | vxlan (default vxlan)"),
        "provider_segment": F("int", 0),
        "mtu": F("int", 0),
    },
    "subnet": {
        "network": F("str", ref="network"),
        "cidr": F("str"),
        "gateway": F("str", "auto", change="update", doc="an address, auto or none"),
        "dhcp": F("bool", True, change="update"),
        "dns": F("strs", [], change="update"),
    },
    "router": {
        "external_gateway": F("str", "", ref="network", change="update"),
        "interfaces": F("strs", [], ref="subnet", change="update", doc="subnets to join"),
    },
    "security_group": {
        "description": F("str", ""),
        "rules": F("rules", [], change="update"),
    },
    "volume": {
        "size": F("int", change="update", doc="GiB; growing is an extend, shrinking a replace"),
        "image": F("str", "", ref="image"),
        "type": F("str", ""),
        "description": F("str", ""),
    },
    "server": {
        "image": F("str", ref="image"),
        "flavor": F("str", ref="flavor", change="update", doc="a new flavor is a resize"),
        "count": F("int", 1, doc="when given: servers NAME-1..NAME-N"),
        "networks": F("nics", [], doc='network names, or {network = "n", fixed_ip = "a"}'),
        "security_groups": F("strs", [], ref="security_group", change="update"),
        "volumes": F("strs", [], ref="volume", change="update", doc="data volumes to attach"),
        "keypair": F("str", "", ref="keypair"),
        "user_data": F("str", ""),
        "user_data_file": F("str", "", doc="relative to the stack file"),
    },
    "floating_ip": {
        "network": F("str", ref="network", doc="an external network"),
        "server": F("str", "", ref="server", change="update", doc="the server it points at"),
        "address": F("str", ""),
    },
}
# Kinds only a cloud admin may apply or destroy.
ADMIN_KINDS = frozenset({"project", "user", "quota"})
# Keys of lab.toml that configure the lab itself, not a stack: left to labcloud.config.
LAB_CONFIG_KEYS = frozenset(
    {"site", "flavors", "projects", "quotas", "users", "networks", "volume_backends", "volumes"}
)
TOP_KEYS = ("stack", "parameters", "outputs", *KINDS)


@dataclass
class Decl:
    """One declared resource, after parameters and count were expanded."""

    kind: str
    name: str
    props: dict[str, Any]
    path: tuple[str, ...]  # where it is declared, e.g. ("server", "web")

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.name)


@dataclass
class StackFile:
    name: str
    description: str
    source: SourceFile
    decls: dict[tuple[str, str], Decl] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    base_dir: str = "."


def parse(
    text: str,
    filename: str,
    *,
    name: str | None = None,
    params: dict[str, str] | None = None,
    base_dir: str = ".",
) -> StackFile:
    """Validate a stack file whole; the first mistake is a ConfigError with file:line."""
    src = SourceFile(filename, text)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        if "twice" in msg or "overwrite" in msg:
            raise ConfigError(f"{filename}: duplicate name: {msg}", "nothing was changed") from None
        raise ConfigError(f"{filename}: invalid TOML: {msg}", "nothing was changed") from None
    for key in raw:
        if key not in TOP_KEYS and key not in LAB_CONFIG_KEYS:
            raise src.unknown((key,), TOP_KEYS)
    head = _table(src, raw, ("stack",))
    _only(src, head, ("stack",), ("name", "description"))
    stack_name = name or _str(src, head, ("stack", "name"), _stem(filename))
    _checked(src, ("stack", "name"), stack_name, "stack name")
    values = Parameters.read(src, _table(src, raw, ("parameters",)), params or {})
    out = StackFile(
        stack_name,
        _str(src, head, ("stack", "description"), ""),
        src,
        parameters=values.values,
        base_dir=base_dir,
    )
    for kind, fields_ in KINDS.items():
        for res_name, body in _table(src, raw, (kind,)).items():
            path = (kind, res_name)
            if not isinstance(body, dict):
                raise src.error(path, f"expected a table [{kind}.{res_name}]")
            body = substitute(src, path, body, values)
            _checked(src, path, res_name, f"{kind} name")
            props = _fields(src, path, body, fields_)
            for decl in _expand(kind, res_name, props, path, counted="count" in body):
                if decl.key in out.decls:
                    raise src.error(path, f"duplicate name: {kind} {decl.name!r} is declared twice")
                out.decls[decl.key] = decl
    for out_name, expr in _table(src, raw, ("outputs",)).items():
        expr = substitute(src, ("outputs", out_name), expr, values)
        if not isinstance(expr, str):
            raise src.error(("outputs", out_name), f"expected a string, got {_tname(expr)}")
        out.outputs[out_name] = expr
    return out


def _expand(
    kind: str, name: str, props: dict[str, Any], path: tuple[str, ...], counted: bool
) -> list[Decl]:
    """A server with `count` is NAME-1..NAME-N (even for count = 1, so lowering the count
    deletes the last ones and renames none); without it, just NAME."""
    if kind != "server" or not counted:
        return [Decl(kind, name, props, path)]
    return [Decl(kind, f"{name}-{i}", props, path) for i in range(1, props["count"] + 1)]


def _fields(
    src: SourceFile, path: tuple[Any, ...], body: dict[str, Any], spec: dict[str, F]
) -> dict[str, Any]:
    _only(src, body, path, tuple(spec))
    props: dict[str, Any] = {}
    for key, f in spec.items():
        if key not in body:
            if f.default is REQUIRED:
                raise src.error(path, f"missing required key {key!r}")
            props[key] = (
                type(f.default)(f.default) if isinstance(f.default, list | dict) else f.default
            )
            continue
        props[key] = _typed(src, (*path, key), body[key], f)
    if len(path) == 2 and path[0] == "server":
        _check_server(src, path, props)
    if len(path) == 2 and path[0] == "image" and bool(props["builtin"]) == bool(props["file"]):
        raise src.error(path, "give exactly one of builtin or file")
    if len(path) == 2 and path[0] == "quota":
        for key, value in props.items():
            if value is not None and value < -1:
                raise src.error((*path, key), "a quota is -1 (unlimited) or at least 0")
    return props


def _roles(src: SourceFile, path: tuple[Any, ...], value: Any) -> dict[str, str]:
    """{ project = "role" }: each project a name, each role a known one."""
    table = _expect(src, path, value, dict)
    out: dict[str, str] = {}
    for project, role in table.items():
        _checked(src, (*path, project), project, "project name")
        role = _expect(src, (*path, project), role, str)
        if role not in ROLES:
            close = difflib.get_close_matches(role, ROLES, n=1)
            hint = f"did you mean {close[0]}?" if close else "one of: " + ", ".join(ROLES)
            raise src.error((*path, project), f"unknown role {role!r}", hint)
        out[project] = role
    return out


def _typed(src: SourceFile, path: tuple[Any, ...], value: Any, f: F) -> Any:
    if f.type == "str":
        if isinstance(value, int) and not isinstance(value, bool) and path[-1] == "port":
            return str(value)  # port = 22 reads as well as port = "22"
        return _expect(src, path, value, str)
    if f.type == "int":
        return _expect(src, path, value, int)
    if f.type == "bool":
        return _expect(src, path, value, bool)
    if f.type == "roles":
        return _roles(src, path, value)
    items = _expect(src, path, value, list)
    if f.type == "strs":
        return [_expect(src, (*path, i), v, str) for i, v in enumerate(items)]
    sub = RULE_FIELDS if f.type == "rules" else NIC_FIELDS
    out = []
    for i, item in enumerate(items):
        if f.type == "nics" and isinstance(item, str):
            item = {"network": item}
        table = _expect(src, (*path, i), item, dict)
        out.append(_fields(src, (*path, i), table, sub))
    return out


def _check_server(src: SourceFile, path: tuple[Any, ...], props: dict[str, Any]) -> None:
    if props["count"] < 1:
        raise src.error((*path, "count"), "count must be 1 or more")
    if props["count"] > 1 and props["volumes"]:
        raise src.error((*path, "volumes"), "a volume attaches to one server, but count > 1")
    if props["count"] > 1 and any(n["fixed_ip"] for n in props["networks"]):
        raise src.error((*path, "networks"), "a fixed_ip is one server's, but count > 1")
    if props["user_data"] and props["user_data_file"]:
        raise src.error(path, "give user_data or user_data_file, not both")


def _expect(src: SourceFile, path: tuple[Any, ...], value: Any, kind: type) -> Any:
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        raise src.error(path, f"expected {_TYPE_NAMES[kind]}, got {_tname(value)}")
    return value


_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    bool: "true or false",
    list: "a list",
    dict: "a table",
}


def _tname(value: Any) -> str:
    for kind, label in (
        (bool, "true or false"),
        (int, "an integer"),
        (str, "a string"),
        (list, "a list"),
        (dict, "a table"),
        (float, "a float"),
    ):
        if isinstance(value, kind):
            return f"{label} ({value!r})" if kind in (int, str, float) else label
    return type(value).__name__


def _only(
    src: SourceFile, body: dict[str, Any], path: tuple[Any, ...], known: tuple[str, ...]
) -> None:
    for key in body:
        if key not in known:
            raise src.unknown((*path, key), known)


def _table(src: SourceFile, raw: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    value = raw.get(path[-1], {})
    return _expect(src, path, value, dict)


def _str(src: SourceFile, body: dict[str, Any], path: tuple[str, ...], default: str) -> str:
    return _expect(src, path, body[path[-1]], str) if path[-1] in body else default


def _checked(src: SourceFile, path: tuple[Any, ...], value: str, what: str) -> None:
    try:
        check_name(value, what)
    except LabError as exc:
        raise src.error(path, exc.message, exc.hint) from None


def _stem(filename: str) -> str:
    base = filename.rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0] or "stack"
