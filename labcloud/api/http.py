"""What every API module shares: routes, replies, the request as a handler sees it, and
OpenStack's error bodies. No service's rules live here."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request

from labcloud.errors import (
    Conflict,
    Forbidden,
    LabError,
    NotFound,
    QuotaExceeded,
    Timeout,
    Unauthorized,
    Unavailable,
    UsageError,
)

if TYPE_CHECKING:
    from labcloud.lab import Lab
    from labcloud.services.tokens import Grant, TokenService

# No OpenStack request body this API takes comes near it; a bigger one is refused unread.
MAX_BODY = 1024 * 1024


class ApiError(Exception):
    """An HTTP error with OpenStack's body, raised by a handler."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def status_of(exc: LabError) -> int:
    """The HTTP status of a service's error (the CLI gives the same error an exit code)."""
    for kind, status in (
        (UsageError, 400),
        (Unauthorized, 401),
        (Forbidden, 403),
        (QuotaExceeded, 403),
        (NotFound, 404),
        (Conflict, 409),
        (Timeout, 504),
        (Unavailable, 503),
    ):
        if isinstance(exc, kind):
            return status
    return 500


@dataclass
class Reply:
    status: int = 200
    body: object | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    methods: tuple[str, ...]
    path: str  # a werkzeug rule under the service's prefix: "/v2.1/flavors/<flavor_id>"
    handler: Callable[..., Reply]
    auth: bool = True  # needs a valid X-Auth-Token
    scoped: bool = True  # ... scoped to a project


@dataclass(frozen=True)
class ApiService:
    """One OpenStack service as the API serves it."""

    name: str  # nova
    type: str  # compute
    prefix: str  # /compute
    version_path: str  # /v2.1: the catalog's URL is base + prefix + version_path
    routes: tuple[Route, ...]
    error_body: Callable[[int, str], object]
    extra_types: tuple[str, ...] = ()  # e.g. Cinder's volumev3 beside block-storage


class Call:
    """One request, as a handler sees it: the body, the caller's grant, and a Lab that
    acts as the token's user in the token's project."""

    def __init__(
        self,
        request: Request,
        base_url: str,
        grant: Grant | None,
        lab_for: Callable[[Grant], Lab],
        tokens: TokenService,
    ) -> None:
        self.request = request
        self.base_url = base_url
        self.grant = grant
        self.tokens = tokens
        self._lab_for = lab_for

    @cached_property
    def lab(self) -> Lab:
        assert self.grant is not None, "the route needs no token: it has no lab"
        return self._lab_for(self.grant)

    def json(self) -> dict[str, Any]:
        """The body as a JSON object, or a 400 that says what was wrong with it."""
        if (self.request.content_length or 0) > MAX_BODY:
            raise ApiError(413, f"the request body is over {MAX_BODY} bytes")
        raw = self.request.get_data(cache=True)
        if len(raw) > MAX_BODY:
            raise ApiError(413, f"the request body is over {MAX_BODY} bytes")
        try:
            body = json.loads(raw or b"null")
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "the request body must be a JSON object")
        return body

    def query(self, name: str) -> str | None:
        return self.request.args.get(name)


def member(body: dict[str, Any], key: str, kind: type, what: str) -> Any:
    """body[key], checked to be of `kind`; a 400 naming `what` otherwise."""
    value = body.get(key)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ApiError(
            400, f"{what} must be a JSON {kind.__name__ if kind is not dict else 'object'}"
        )
    return value


def optional(body: dict[str, Any], key: str, kind: type, what: str) -> Any:
    return None if body.get(key) is None else member(body, key, kind, what)


def link(base_url: str, path: str, rel: str = "self") -> dict[str, str]:
    return {"rel": rel, "href": base_url + path}


def filtered(rows: list[dict[str, Any]], args: Mapping[str, str]) -> list[dict[str, Any]]:
    """Neutron's and Glance's list filters: `?name=web&status=ACTIVE` keeps the rows whose
    scalar fields equal the values (booleans as true/false). A parameter that names no
    field (paging, `fields`, `sort_key`) is ignored, as the API reference allows."""
    for key, wanted in args.items():
        if not rows or key not in rows[0] or isinstance(rows[0][key], (list, dict)):
            continue
        if wanted.startswith("in:"):  # Glance's operator: ?id=in:a,b
            allowed = set(wanted[3:].split(","))
            rows = [r for r in rows if _text(r[key]) in allowed]
        else:
            rows = [r for r in rows if _text(r[key]) == wanted]
    return rows


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
