"""The diff between what a stack file declares and what the stack last applied.

    +    create             a declared resource the stack does not have (or lost)
    ~    update in place    only fields the service can change (a flavor is a resize,
                            a volume an attach, a rule just the rule)
    -/+  replace            a field that cannot change; what depends on it is replaced too
    -    delete             owned by the stack, no longer declared

Only the stack's own records are compared (plus one existence check per kind), so a plan
of hundreds of resources takes milliseconds, and planning changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from labcloud.services.stacks.refs import Key, topological
from labcloud.services.stacks.schema import KINDS, StackFile

SYMBOLS = {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "adopt": "="}


@dataclass
class Owned:
    """What a stack recorded about one of its resources."""

    resource_id: str | None
    status: str  # CREATING | COMPLETE | DELETING
    spec: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Change:
    action: str  # create | update | replace | delete | adopt | noop
    kind: str
    name: str
    notes: list[str] = field(default_factory=list)
    old: dict[str, Any] = field(default_factory=dict)
    new: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> Key:
        return (self.kind, self.name)

    def line(self) -> str:
        return f"{SYMBOLS[self.action]} {self.kind} {self.name}"


@dataclass
class Plan:
    stack: str
    changes: list[Change]
    deps: dict[Key, set[Key]]

    @property
    def actionable(self) -> list[Change]:
        return [c for c in self.changes if c.action != "noop"]

    def counts(self) -> dict[str, int]:
        out = {a: 0 for a in ("create", "update", "replace", "delete", "adopt")}
        for c in self.actionable:
            out[c.action] += 1
        return out

    def render(self) -> str:
        lines = [f"stack {self.stack}:"]
        for c in self.actionable:
            lines.append(f"  {c.line()}")
            lines += [f"      {note}" for note in c.notes]
        n = self.counts()
        if not self.actionable:
            lines.append("  no changes: the lab matches the file")
        adopting = f"{n['adopt']} to adopt, " if n["adopt"] else ""
        lines.append(
            f"Plan: {adopting}{n['create']} to create, {n['update']} to update in place, "
            f"{n['replace']} to replace, {n['delete']} to delete."
        )
        return "\n".join(lines)


def rule_key(rule: dict[str, Any]) -> str:
    """A rule in words; two rules are the same when their words are."""
    remote = rule["remote_group"] and f"group {rule['remote_group']}"
    remote = (
        remote or rule["remote_ip"] or ("0.0.0.0/0" if rule["direction"] == "ingress" else "any")
    )
    port = f" port {rule['port']}" if rule["port"] else ""
    way = "from" if rule["direction"] == "ingress" else "to"
    return f"{rule['direction']} {rule['protocol']}{port} {way} {remote}"


def diff_fields(kind: str, old: dict[str, Any], new: dict[str, Any]) -> tuple[str, list[str]]:
    """("noop" | "update" | "replace", notes) for one resource's declared fields."""
    action, notes = "noop", []
    for key, f in KINDS[kind].items():
        a = old.get(key, f.default)
        b: Any = new.get(key)  # parse() checked the declared fields' types
        if f.type == "rules" and sorted(map(rule_key, a)) == sorted(map(rule_key, b)):
            continue
        if f.type == "strs" and sorted(a) == sorted(b):
            continue  # the order of a router's legs or a server's groups means nothing
        if a == b or key == "count":
            continue
        change = f.change
        if kind == "volume" and key == "size" and b < a:
            change = "replace"  # a volume cannot shrink
        if change == "replace":
            action = "replace"
        elif action == "noop":
            action = "update"
        notes += _notes(kind, key, f.type, a, b, change)
    return action, notes


def _notes(kind: str, key: str, ftype: str, a: Any, b: Any, change: str) -> list[str]:
    tail = " (forces replacement)" if change == "replace" else ""
    if ftype == "strs":
        return [f"+ {key} {x}" for x in b if x not in a] + [f"- {key} {x}" for x in a if x not in b]
    if ftype == "roles":
        return [f"+ role {r} in {p}" for p, r in b.items() if a.get(p) != r] + [
            f"- role {r} in {p}" for p, r in a.items() if p not in b
        ]
    if ftype == "rules":
        ka, kb = [rule_key(r) for r in a], [rule_key(r) for r in b]
        return [f"+ rule {x}" for x in kb if x not in ka] + [
            f"- rule {x}" for x in ka if x not in kb
        ]
    why = {("server", "flavor"): " (resize)", ("volume", "size"): " (extend)"}.get((kind, key), "")
    return [f"{key}: {_show(a)} -> {_show(b)}{why if not tail else ''}{tail}"]


def _show(value: Any) -> str:
    if value is None:
        return "default"  # a quota left at lab.toml's
    if isinstance(value, list):
        return (
            "["
            + ", ".join(
                v["network"] if isinstance(v, dict) and "network" in v else str(v) for v in value
            )
            + "]"
        )
    return repr(value) if isinstance(value, str) else str(value)


def make_plan(
    stack: StackFile,
    deps: dict[Key, set[Key]],
    owned: dict[Key, Owned],
    present: Callable[[str, str], bool],
    unowned: Callable[[str, str], bool],
    adopt: Callable[[str, str], dict[str, Any] | None] | None = None,
    current: Callable[[str, str], dict[str, Any] | None] | None = None,
) -> Plan:
    """The plan. `present(kind, id)`: the owned resource still exists. `unowned(kind, name)`:
    something not this stack's already has the name (refused, or adopted when `adopt`
    gives its current spec). `current(kind, id)`: what the resource is now, so a change
    made by hand (a server resized, a volume detached) shows and is put back."""
    changes: dict[Key, Change] = {}
    for key in topological(deps):
        decl = stack.decls[key]
        kind, name = key
        have = owned.get(key)
        if have is None or (have.status == "CREATING" and have.resource_id is None):
            changes[key] = _new(stack, decl.path, kind, name, decl.props, unowned, adopt, have)
            continue
        if have.resource_id is None or not present(kind, have.resource_id):
            changes[key] = Change(
                "create", kind, name, ["(it was deleted outside the stack)"], new=decl.props
            )
            continue
        old = refreshed(kind, have.spec, current(kind, have.resource_id) if current else None)
        action, notes = diff_fields(kind, old, decl.props)
        if action == "noop" and have.status != "COMPLETE":
            action, notes = "update", [f"(finishing an interrupted apply: {have.status})"]
        replaced = sorted(d for d in deps[key] if changes.get(d) and changes[d].action == "replace")
        if replaced and action != "replace":
            action = "replace"
            notes.append(
                "(it uses " + ", ".join(f"{k} {n}" for k, n in replaced) + ", which is replaced)"
            )
        changes[key] = Change(action, kind, name, notes, old, decl.props)
    for key in sorted(set(owned) - set(stack.decls), key=delete_rank):
        changes[key] = Change("delete", *key, old=owned[key].spec)
    return Plan(stack.name, list(changes.values()), deps)


# Fields read back from the lab before diffing: the ones a hand-made command may change
# and apply can put back in place. (Security group rules are left out: a rule added by
# hand to a stack's group is the user's, not the stack's.)
REFRESHED: dict[str, tuple[str, ...]] = {
    "server": ("flavor", "volumes"),
    "router": ("external_gateway", "interfaces"),
    "volume": ("size",),
    "floating_ip": ("server",),
    "network": ("shared", "external"),
    "subnet": ("dhcp", "dns"),
    "project": ("description", "enabled"),
    "user": ("roles",),
    "quota": tuple(KINDS["quota"]),
}


def refreshed(kind: str, recorded: dict[str, Any], now: dict[str, Any] | None) -> dict[str, Any]:
    if not now:
        return recorded
    now = dict(now)
    if kind == "user":  # a role given by hand in a project the stack never named is not its
        now["roles"] = {p: r for p, r in now["roles"].items() if p in recorded.get("roles", {})}
    if kind == "quota":  # nor is a limit it never set
        now = {k: v for k, v in now.items() if recorded.get(k) is not None}
    return {**recorded, **{k: now[k] for k in REFRESHED.get(kind, ()) if k in now}}


def _new(
    stack: StackFile,
    path: tuple[str, ...],
    kind: str,
    name: str,
    props: dict[str, Any],
    unowned: Callable[[str, str], bool],
    adopt: Callable[[str, str], dict[str, Any] | None] | None,
    have: Owned | None,
) -> Change:
    # A row left CREATING by a killed apply: the resource, if it exists, is ours to adopt.
    if have is None and unowned(kind, name):
        current = adopt(kind, name) if adopt else None
        if current is not None:
            current = _unspecified_match(kind, current, props)
        if current is None:
            raise stack.source.error(
                path,
                f"a {kind.replace('_', ' ')} named {name!r} already exists and is not this stack's",
                "rename it here, delete it, or take it over with `stack apply --adopt`",
            )
        _action, notes = diff_fields(kind, current, props)
        return Change("adopt", kind, name, notes, current, props)
    return Change("create", kind, name, new=props)


def _unspecified_match(kind: str, current: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    """A field left at its default ("", 0: the lab picks) matches whatever the lab picked."""
    out = {**props, **current}
    for key, f in KINDS[kind].items():
        if f.change == "replace" and f.type in ("str", "int") and props.get(key) == f.default:
            out[key] = props[key]
    return out


DELETE_ORDER = (
    "floating_ip",
    "server",
    "volume",
    "router",
    "subnet",
    "network",
    "security_group",
    "keypair",
    "image",
    "flavor",
    # The service refuses a project that still holds anything: try that first, so a refusal
    # leaves its user and quotas as they were. (Its own roles and limits go with it.)
    "project",
    "quota",
    "user",
)


def delete_rank(key: Key) -> tuple[int, str]:
    kind = key[0]
    return (DELETE_ORDER.index(kind) if kind in DELETE_ORDER else 99, key[1])
