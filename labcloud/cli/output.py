"""The openstack client's formatters: -f table|json|yaml|csv|value, and -c COLUMN."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from labcloud.errors import UsageError

FORMATS = ("table", "json", "yaml", "csv", "value")


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


@dataclass(frozen=True)
class Record:
    fields: dict[str, Any]


def plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def _text(value: Any) -> str:
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def select_columns(result: Table | Record, columns: Sequence[str]) -> Table | Record:
    if not columns:
        return result
    available = result.columns if isinstance(result, Table) else tuple(result.fields)
    lowered = {c.lower(): c for c in available}
    picked = []
    for want in columns:
        real = lowered.get(want.lower())
        if real is None:
            raise UsageError(f"no column {want!r}", f"columns are: {', '.join(available)}")
        picked.append(real)
    if isinstance(result, Table):
        idx = [result.columns.index(c) for c in picked]
        return Table(tuple(picked), [tuple(r[i] for i in idx) for r in result.rows])
    return Record({c: result.fields[c] for c in picked})


def render(result: Table | Record, fmt: str) -> str:
    if isinstance(result, Record):
        return _render_record(result, fmt)
    return _render_table(result, fmt)


def _render_table(t: Table, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(
            [dict(zip(t.columns, map(plain, r), strict=True)) for r in t.rows],
            indent=2,
            default=str,
        )
    if fmt == "yaml":
        if not t.rows:
            return "[]"
        return "\n".join(_yaml_mapping(dict(zip(t.columns, r, strict=True)), "- ") for r in t.rows)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        writer.writerow(t.columns)
        writer.writerows([[_text(v) for v in r] for r in t.rows])
        return buf.getvalue().rstrip("\n")
    if fmt == "value":
        return "\n".join(" ".join(_text(v) for v in r) for r in t.rows)
    return _box(t.columns, [[_text(v) for v in r] for r in t.rows])


def _render_record(r: Record, fmt: str) -> str:
    if fmt == "json":
        return json.dumps({k: plain(v) for k, v in r.fields.items()}, indent=2, default=str)
    if fmt == "yaml":
        return _yaml_mapping(r.fields, "")
    if fmt == "csv":
        return _render_table(Table(tuple(r.fields), [tuple(r.fields.values())]), "csv")
    if fmt == "value":
        return "\n".join(_text(v) for v in r.fields.values())
    return _box(("Field", "Value"), [[k, _text(v)] for k, v in r.fields.items()])


def _yaml_scalar(value: Any) -> str:
    value = plain(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)  # JSON is valid YAML flow style
    return json.dumps(str(value), ensure_ascii=False)  # double-quoted YAML scalar


def _yaml_mapping(fields: dict[str, Any], first_prefix: str) -> str:
    lines = []
    for i, (key, value) in enumerate(fields.items()):
        prefix = first_prefix if i == 0 else " " * len(first_prefix)
        lines.append(f"{prefix}{key}: {_yaml_scalar(value)}")
    return "\n".join(lines)


def _box(columns: Sequence[str], rows: list[list[str]]) -> str:
    widths = [len(c) for c in columns]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], max((len(x) for x in cell.splitlines()), default=0))
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [rule, line(columns), rule]
    out += [line(r) for r in rows]
    out.append(rule)
    return "\n".join(out)
