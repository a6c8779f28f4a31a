"""Commands that take several refs (`server delete a b c`) act on each in turn."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def each(refs: Iterable[str], action: Callable[..., object], **kw: Any) -> str:
    """Run `action(ref, **kw)` for every ref, in order; the first error stops the rest,
    as the openstack client does. Returns "" (these commands print nothing)."""
    for ref in refs:
        action(ref, **kw)
    return ""
