"""Commands are registered by their words, as in the openstack client (cliff)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from labcloud.errors import UsageError


@dataclass(frozen=True)
class Arg:
    flags: tuple[str, ...]
    kwargs: dict[str, Any]


def arg(*flags: str, **kwargs: Any) -> Arg:
    return Arg(flags, kwargs)


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]
    help: str
    example: str
    args: tuple[Arg, ...]
    run: Callable[..., Any]
    needs_lab: bool = True
    tags: frozenset[str] = field(default_factory=frozenset)

    @property
    def name(self) -> str:
        return " ".join(self.words)


COMMANDS: dict[tuple[str, ...], Command] = {}


def command(
    *words: str, help: str, example: str, args: tuple[Arg, ...] = (), needs_lab: bool = True
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        COMMANDS[words] = Command(words, help, example, args, fn, needs_lab)
        return fn

    return register


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line and a usage exit code, never a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}", f"see `{self.prog} --help`")


def match(words: list[str]) -> tuple[Command | None, int]:
    """The longest registered command that the leading words spell, and its length."""
    for n in range(min(len(words), 6), 0, -1):
        found = COMMANDS.get(tuple(words[:n]))
        if found:
            return found, n
    return None, 0


def commands_under(prefix: tuple[str, ...]) -> list[Command]:
    return sorted(
        (c for c in COMMANDS.values() if c.words[: len(prefix)] == prefix), key=lambda c: c.words
    )
