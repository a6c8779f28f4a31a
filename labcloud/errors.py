"""One error family. Each kind maps to an exit code and a one-line message."""

from __future__ import annotations


class LabError(Exception):
    """Base of every error a user may see: a message saying what was wrong and what to do."""

    exit_code = 1
    code = "error"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(LabError):
    exit_code = 2
    code = "usage"


class NotFound(LabError):
    exit_code = 3
    code = "not_found"


class Conflict(LabError):
    exit_code = 4
    code = "conflict"


class QuotaExceeded(LabError):
    exit_code = 5
    code = "quota"


class BackendError(LabError):
    exit_code = 6
    code = "backend"


class ConfigError(LabError):
    exit_code = 7
    code = "config"


class Forbidden(LabError):
    exit_code = 8
    code = "forbidden"


class Timeout(LabError):
    exit_code = 9
    code = "timeout"


class Untrusted(LabError):
    """A node's SSH host key is unknown or differs from the pinned one."""

    exit_code = 10
    code = "untrusted"


class Unavailable(LabError):
    """A node does not answer (down, unreachable, or its libvirt is gone)."""

    exit_code = 11
    code = "unavailable"


class Unauthorized(LabError):
    """No valid credentials: a wrong password, or a token expired or revoked (HTTP 401)."""

    exit_code = 12
    code = "unauthorized"


EXIT_CODES: dict[str, int] = {
    cls.code: cls.exit_code
    for cls in (
        LabError,
        UsageError,
        NotFound,
        Conflict,
        QuotaExceeded,
        BackendError,
        ConfigError,
        Forbidden,
        Timeout,
        Untrusted,
        Unavailable,
        Unauthorized,
    )
}
