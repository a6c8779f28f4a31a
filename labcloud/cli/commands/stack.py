"""stack plan|apply|destroy|list|show|export: the lab declared in TOML (Heat)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from labcloud.cli.inputs import parse_pairs
from labcloud.cli.output import Record, Table
from labcloud.cli.registry import arg, command
from labcloud.errors import ConfigError

if TYPE_CHECKING:
    from labcloud.lab import Lab

_FILE = arg("file", nargs="?", help="the stack file (default: the lab file, lab.toml)")
_NAME = arg("--name", help="the stack's name (default: [stack] name, else the file's stem)")
_PARAM = arg("--param", action="append", default=[], metavar="KEY=VALUE", help="set a parameter")
_ADOPT = arg(
    "--adopt",
    action="store_true",
    help="take over existing resources of the declared names that no stack owns",
)


def _file(lab: Lab, a: Any) -> str:
    if a.file:
        return str(a.file)
    if lab.config.source is None:
        raise ConfigError("no stack file given and no lab file found", "give FILE")
    return str(lab.config.source)


def _params(a: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for text in a.param:
        out.update(parse_pairs(text, "--param"))
    return out


def _changes(plan: Any) -> Table:
    return Table(
        ("Action", "Kind", "Name", "Details"),
        [(c.action, c.kind, c.name, "; ".join(c.notes)) for c in plan.actionable],
    )


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@command(
    "stack",
    "plan",
    help="Show what apply would change (+ create, ~ update, -/+ replace, - delete)",
    example="labcloud stack plan lab.toml --param flavor=m1.tiny",
    args=(_FILE, _NAME, _PARAM, _ADOPT),
)
def stack_plan(lab: Lab, a: Any) -> Any:
    loaded = lab.stacks.plan(_file(lab, a), a.name, _params(a), adopt=a.adopt)
    return loaded.plan.render() if a.format == "table" else _changes(loaded.plan)


@command(
    "stack",
    "apply",
    help="Make the lab match a stack file, in dependency order, in parallel",
    example="labcloud stack apply lab.toml",
    args=(
        _FILE,
        _NAME,
        _PARAM,
        _ADOPT,
        arg("--workers", type=int, default=4, help="resources made at once (default 4)"),
    ),
)
def stack_apply(lab: Lab, a: Any) -> Any:
    loaded = lab.stacks.apply(
        _file(lab, a), a.name, _params(a), adopt=a.adopt, workers=max(1, a.workers), log=_log
    )
    if a.format != "table":
        return _changes(loaded.plan)
    _row, _resources, outputs = lab.stacks.show(loaded.stack.name)
    n = loaded.plan.counts()
    adopted = f"{n['adopt']} adopted, " if n["adopt"] else ""
    lines = [
        loaded.plan.render(),
        f"Apply complete: {adopted}{n['create']} created, {n['update']} updated in place, "
        f"{n['replace']} replaced, {n['delete']} deleted.",
    ]
    lines += [f"  {k} = {v}" for k, v in outputs.items()]
    return "\n".join(lines)


@command(
    "stack",
    "destroy",
    help="Delete every resource a stack owns, and the stack",
    example="labcloud stack destroy lab --keep-volumes",
    args=(
        arg("stack", help="stack name or ID"),
        arg("--keep-volumes", action="store_true", help="keep its volumes (no longer owned)"),
    ),
)
def stack_destroy(lab: Lab, a: Any) -> str:
    changes = lab.stacks.destroy(a.stack, keep_volumes=a.keep_volumes, log=_log)
    return f"stack {a.stack} destroyed: {len(changes)} resources deleted"


@command("stack", "list", help="List stacks", example="labcloud stack list -f json")
def stack_list(lab: Lab, a: Any) -> Table:
    return Table(
        ("ID", "Name", "Status", "Resources", "Source", "Updated At"),
        [(r.id, r.name, r.status, n, r.source, r.updated_at) for r, n in lab.stacks.list()],
    )


@command(
    "stack",
    "show",
    help="Show a stack, its resources and its outputs",
    example="labcloud stack show lab -c outputs -f json",
    args=(arg("stack", help="stack name or ID"),),
)
def stack_show(lab: Lab, a: Any) -> Record:
    row, resources, outputs = lab.stacks.show(a.stack)
    return Record(
        {
            "id": row.id,
            "name": row.name,
            "status": row.status,
            "description": row.description,
            "source": row.source,
            "resources": _summary(resources),
            "outputs": outputs,
            "updated_at": row.updated_at,
        }
    )


def _summary(resources: list[Any]) -> str:
    by_status: dict[str, int] = {}
    for r in resources:
        by_status[r.status] = by_status.get(r.status, 0) + 1
    return ", ".join(f"{n} {status}" for status, n in sorted(by_status.items())) or "none"


@command(
    "stack",
    "resource",
    "list",
    help="List the resources a stack owns",
    example="labcloud stack resource list lab",
    args=(arg("stack", help="stack name or ID"),),
)
def stack_resource_list(lab: Lab, a: Any) -> Table:
    _row, resources, _outputs = lab.stacks.show(a.stack)
    return Table(
        ("Kind", "Name", "Resource ID", "Status"),
        [(r.kind, r.name, r.resource_id or "", r.status) for r in resources],
    )


@command(
    "stack",
    "export",
    help="Write what exists in the project as TOML that `stack apply` accepts",
    example="labcloud --project demo stack export > demo.toml",
)
def stack_export(lab: Lab, a: Any) -> str:
    return str(lab.stacks.export())
