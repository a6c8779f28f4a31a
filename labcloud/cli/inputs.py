"""Reading what users pass on the command line: KEY=VALUE lists and small files."""

from __future__ import annotations

from pathlib import Path

from labcloud.errors import UsageError

MAX_USER_FILE = 16 * 1024 * 1024


def parse_pairs(text: str, option: str) -> dict[str, str]:
    """`a=1,b=2` as a dict; a malformed pair is a usage error naming the option."""
    pairs: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{option} {text!r}: expected KEY=VALUE[,KEY=VALUE...]")
        pairs[key.strip()] = value.strip()
    return pairs


def read_user_file(path: str, option: str, limit: int = MAX_USER_FILE) -> bytes:
    """A small user file (user-data, a public key), with a one-line error when unreadable."""
    file = Path(path)
    try:
        if file.stat().st_size > limit:
            raise UsageError(f"{option} {path}: larger than {limit // 1024} KiB")
        return file.read_bytes()
    except OSError as exc:
        raise UsageError(f"{option} {path}: {exc.strerror or exc}") from None
