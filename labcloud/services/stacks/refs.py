"""References by name between declared resources: checked, turned into a dependency
graph, and refused when they form a cycle.

A reference names a resource of the stack (an edge in the graph) or one that already
exists in the lab (an image, a flavor, an external network made by hand): no edge then.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from labcloud.services.stacks.schema import KINDS, NIC_FIELDS, RULE_FIELDS, Decl, StackFile

Key = tuple[str, str]
OUTPUT_REF = re.compile(r"\$\{([a-z_]+)\.(.+)\.([a-z_]+)\}")
OUTPUT_ATTRS = {"id", "name", "status", "address", "addresses", "cidr", "gateway"}


def references(decl: Decl) -> Iterator[tuple[Key, tuple[Any, ...]]]:
    """(kind, name) of everything a declaration names, with the key path naming it."""
    if decl.kind == "quota":
        yield ("project", decl.name), decl.path  # [quota.PROJECT] names its project
    for key, f in KINDS[decl.kind].items():
        value = decl.props[key]
        path = (*decl.path, key)
        if f.type == "rules" or f.type == "nics":
            sub = RULE_FIELDS if f.type == "rules" else NIC_FIELDS
            for i, item in enumerate(value):
                for sk, sf in sub.items():
                    if sf.ref and item[sk]:
                        yield (sf.ref, item[sk]), (*path, i, sk)
        elif f.type == "roles":
            for project in value:
                yield ("project", project), (*path, project)
        elif f.ref and f.type == "strs":
            for i, item in enumerate(value):
                yield (f.ref, item), (*path, i)
        elif f.ref and value:
            yield (f.ref, value), path


def graph(stack: StackFile, exists: Callable[[str, str], bool]) -> dict[Key, set[Key]]:
    """Each declared resource's dependencies within the stack. Unknown references and
    cycles are errors at the line of the reference."""
    deps: dict[Key, set[Key]] = {key: set() for key in stack.decls}
    for key, decl in stack.decls.items():
        for target, path in references(decl):
            if target == key:
                continue  # a group whose rule allows its own members
            if target in stack.decls:
                deps[key].add(target)
            elif not exists(*target):
                raise stack.source.error(
                    path,
                    f"unknown reference: no {target[0]} named {target[1]!r}",
                    _ref_hint(stack, target),
                )
    _implicit(stack, deps)
    for out_name, expr in stack.outputs.items():
        for kind, name, attr in OUTPUT_REF.findall(expr):
            path = ("outputs", out_name)
            if (kind, name) not in stack.decls:
                raise stack.source.error(
                    path, f"unknown reference: the stack declares no {kind} named {name!r}"
                )
            if attr not in OUTPUT_ATTRS:
                raise stack.source.error(
                    path,
                    f"unknown attribute {attr!r}",
                    f"use one of {', '.join(sorted(OUTPUT_ATTRS))}",
                )
    cycle = find_cycle(deps)
    if cycle:
        first = stack.decls[cycle[0]]
        via = next((p for t, p in references(first) if t == cycle[1]), first.path)
        chain = " -> ".join(f"{k}.{n}" for k, n in cycle)
        raise stack.source.error(via, f"dependency cycle: {chain}")
    return deps


def _implicit(stack: StackFile, deps: dict[Key, set[Key]]) -> None:
    """Dependencies no field names: what uses a network needs its subnets (a server gets
    no address, a router gateway or floating IP no subnet, without them), and a floating
    IP pointed at a server needs the routers that reach its external network."""
    subnets: dict[str, set[Key]] = {}
    routers: dict[str, set[Key]] = {}
    for key, decl in stack.decls.items():
        if key[0] == "subnet":
            subnets.setdefault(decl.props["network"], set()).add(key)
        if key[0] == "router" and decl.props["external_gateway"]:
            routers.setdefault(decl.props["external_gateway"], set()).add(key)
    for key, decl in stack.decls.items():
        if key[0] == "subnet":
            continue
        for (kind, name), _path in references(decl):
            if kind == "network":
                deps[key] |= subnets.get(name, set())
        if key[0] == "floating_ip" and decl.props["server"]:
            deps[key] |= routers.get(decl.props["network"], set())


def _ref_hint(stack: StackFile, target: Key) -> str:
    kind, name = target
    counted = sorted(n for k, n in stack.decls if k == kind and n.startswith(f"{name}-"))
    if counted:
        return f"{kind} {name} has count {len(counted)}: name one of {', '.join(counted)}"
    return f"declare [{kind}.{name}], or create it first (`labcloud {kind.replace('_', ' ')} list`)"


def find_cycle(deps: dict[Key, set[Key]]) -> list[Key] | None:
    """A cycle as [a, b, ..., a], or None. Iterative DFS: white, grey (on the path), black."""
    state: dict[Key, int] = {}
    for start in sorted(deps):
        if state.get(start):
            continue
        stack: list[tuple[Key, Iterator[Key]]] = [(start, iter(sorted(deps[start])))]
        path = [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(child) == 1:
                return [*path[path.index(child) :], child]
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(deps.get(child, ())))))
    return None


def topological(deps: dict[Key, set[Key]]) -> list[Key]:
    """Dependencies first; ties by kind order then name, so plans read the same each time."""
    rank = {kind: i for i, kind in enumerate(KINDS)}
    done: set[Key] = set()
    out: list[Key] = []
    pending = sorted(deps, key=lambda k: (rank[k[0]], k[1]))
    while pending:
        ready = [k for k in pending if (deps[k] & set(deps)) <= done]
        for k in ready:
            done.add(k)
            out.append(k)
        pending = [k for k in pending if k not in done]
        if not ready:
            raise AssertionError("cycle")  # refused earlier by graph()
    return out
