"""Validation of names that come from users: they are hostile until checked."""

from __future__ import annotations

import re
import uuid

from labcloud.errors import UsageError

# Letters (any script), digits, '.', '_' and '-': no spaces, shell or XML metacharacters.
_NAME_RE = re.compile(r"^[^\W_][\w.-]{0,63}$")
_PROPERTY_KEY_RE = re.compile(r"^[a-z][a-z0-9_:.]{0,63}$")


def check_name(name: str, what: str = "name") -> str:
    if not _NAME_RE.fullmatch(name):
        raise UsageError(
            f"invalid {what} {name!r}",
            "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return name


def check_property_key(key: str) -> str:
    if not _PROPERTY_KEY_RE.fullmatch(key):
        raise UsageError(
            f"invalid property key {key!r}", "use lower-case letters, digits, '_', ':', '.'"
        )
    return key


def is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text.lower()
    except ValueError:
        return False


def new_uuid() -> str:
    return str(uuid.uuid4())
