"""Parameters: values a stack file leaves open, given with `--param KEY=VALUE`.

    [parameters]
    flavor = "m1.nano"                 # a default
    servers = { default = 2 }          # the same, as a table
    password = { description = "..." } # no default: it must be given

A string value "${flavor}" is replaced by the parameter's value (keeping its type when
the whole string is the reference); "${server.web.address}" in outputs is left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from labcloud.services.stacks.source import SourceFile

_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_-]*)\}")


@dataclass
class Parameters:
    values: dict[str, Any]
    unset: dict[str, str]  # declared without a default and not given: name -> description

    @classmethod
    def read(cls, src: SourceFile, table: dict[str, Any], given: dict[str, str]) -> Parameters:
        values: dict[str, Any] = {}
        unset: dict[str, str] = {}
        for name, decl in table.items():
            path = ("parameters", name)
            if isinstance(decl, dict):
                for key in decl:
                    if key not in ("default", "description"):
                        raise src.unknown((*path, key), ("default", "description"))
                if "default" in decl:
                    values[name] = decl["default"]
                else:
                    unset[name] = str(decl.get("description", ""))
            else:
                values[name] = decl
        for name, text in given.items():
            if name not in values and name not in unset:
                raise src.error(
                    ("parameters",), f"--param {name}: the file declares no such parameter"
                )
            values[name] = _coerce(src, name, text, values.get(name))
            unset.pop(name, None)
        return cls(values, unset)


def _coerce(src: SourceFile, name: str, text: str, default: Any) -> Any:
    """A --param value takes its default's type: 2 for an integer parameter, not "2"."""
    if isinstance(default, bool):
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
    elif isinstance(default, int):
        try:
            return int(text)
        except ValueError:
            pass
    else:
        return text
    raise src.error(
        ("parameters", name), f"--param {name}={text}: expected {type(default).__name__}"
    )


def substitute(src: SourceFile, path: tuple[Any, ...], value: Any, params: Parameters) -> Any:
    """The value with every ${parameter} replaced; an unset one is an error at its line."""
    if isinstance(value, dict):
        return {k: substitute(src, (*path, k), v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(src, (*path, i), v, params) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value
    whole = _REF.fullmatch(value)
    if whole:
        return _value(src, path, whole.group(1), params)
    return _REF.sub(lambda m: str(_value(src, path, m.group(1), params)), value)


def _value(src: SourceFile, path: tuple[Any, ...], name: str, params: Parameters) -> Any:
    if name in params.values:
        return params.values[name]
    if name in params.unset:
        raise src.error(
            path,
            f"parameter {name!r} is not set",
            f"give --param {name}=VALUE"
            + (f" ({params.unset[name]})" if params.unset[name] else ""),
        )
    raise src.error(path, f"unknown parameter {name!r}", "declare it under [parameters]")
