"""Keystone v3 at /identity: version discovery, and tokens (password method, project
scope, validate, revoke). Shapes follow Keystone's API reference.

labcloud has one domain, Keystone's `Default`: every user and project is in it.
"""

from __future__ import annotations

from typing import Any

from labcloud.api.catalog import catalog
from labcloud.api.http import ApiError, ApiService, Call, Reply, Route, link, member, optional
from labcloud.api.times import keystone_time
from labcloud.services.tokens import Grant, role_id

DOMAIN = {"id": "default", "name": "Default"}
# Keystone's 3.14 is the last with this token and discovery shape.
VERSION = "v3.14"
UPDATED = "2020-04-07T00:00:00Z"


def _version(call: Call) -> dict[str, object]:
    return {
        "id": VERSION,
        "status": "stable",
        "updated": UPDATED,
        "links": [link(call.base_url, "/identity/v3/")],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
        ],
    }


def versions(call: Call) -> Reply:
    return Reply(300, {"versions": {"values": [_version(call)]}})


def version(call: Call) -> Reply:
    return Reply(200, {"version": _version(call)})


def _in_default_domain(ref: object, what: str) -> None:
    """A domain given by id or name must be Default (labcloud has no other)."""
    if ref is None:
        return
    if not isinstance(ref, dict):
        raise ApiError(400, f"{what} must be a JSON object")
    if ref.get("id", "default") != "default" or ref.get("name", "Default") != "Default":
        raise ApiError(401, "the request you have made requires authentication")


def _scope_project(body: dict[str, Any]) -> str | None:
    scope = optional(body, "scope", dict, "auth.scope")
    if scope is None:
        return None
    if "system" in scope or "domain" in scope:
        raise ApiError(400, "only project scope is offered: labcloud has no system or domains")
    project = member(scope, "project", dict, "auth.scope.project")
    _in_default_domain(project.get("domain"), "auth.scope.project.domain")
    ref = project.get("id") or project.get("name")
    if not isinstance(ref, str) or not ref:
        raise ApiError(400, "auth.scope.project needs an id or a name")
    return ref


def issue(call: Call) -> Reply:
    auth = member(call.json(), "auth", dict, "auth")
    identity = member(auth, "identity", dict, "auth.identity")
    methods = member(identity, "methods", list, "auth.identity.methods")
    project_ref = _scope_project(auth)
    if methods == ["token"]:
        token = member(
            member(identity, "token", dict, "auth.identity.token"), "id", str, "token id"
        )
        held = call.tokens.validate(token)
        grant = call.tokens.rescope(held, project_ref)
    elif methods == ["password"]:
        password = member(identity, "password", dict, "auth.identity.password")
        user = member(password, "user", dict, "auth.identity.password.user")
        _in_default_domain(user.get("domain"), "auth.identity.password.user.domain")
        secret = member(user, "password", str, "the password")
        name = user.get("name")
        if not isinstance(name, str):
            user_id = member(user, "id", str, "the user's name or id")
            name = call.tokens.user_name(user_id)
        grant = call.tokens.issue(name, secret, project_ref)
    else:
        raise ApiError(401, "the methods offered are password and token")
    return Reply(201, _token_body(call, grant), {"X-Subject-Token": grant.token})


def _token_body(call: Call, grant: Grant) -> dict[str, object]:
    token: dict[str, object] = {
        "methods": ["password"],
        "user": {
            "domain": DOMAIN,
            "id": grant.user_id,
            "name": grant.user_name,
            "password_expires_at": None,
        },
        "audit_ids": [grant.audit_id],
        "expires_at": keystone_time(grant.expires_at),
        "issued_at": keystone_time(grant.issued_at),
    }
    if grant.project_id is not None:
        token |= {
            "project": {"domain": DOMAIN, "id": grant.project_id, "name": grant.project_name},
            "is_domain": False,
            "roles": [{"id": role_id(r), "name": r} for r in grant.roles],
            "catalog": catalog(call.base_url),
        }
    return {"token": token}


def _subject(call: Call) -> Grant:
    """The token named by X-Subject-Token. Users validate their own; admins anyone's."""
    assert call.grant is not None
    subject = call.request.headers.get("X-Subject-Token", "")
    if not subject:
        raise ApiError(400, "give the token to check in X-Subject-Token")
    grant = call.tokens.validate(subject)
    if grant.user_id != call.grant.user_id and "admin" not in call.grant.roles:
        raise ApiError(403, "you may check only your own tokens")
    return grant


def validate(call: Call) -> Reply:
    grant = _subject(call)
    headers = {"X-Subject-Token": call.request.headers["X-Subject-Token"]}
    if call.request.method == "HEAD":
        return Reply(200, None, headers)
    return Reply(200, _token_body(call, grant), headers)


def revoke(call: Call) -> Reply:
    _subject(call)
    call.tokens.revoke(call.request.headers["X-Subject-Token"])
    return Reply(204)


def error_body(status: int, message: str) -> object:
    titles = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}
    return {"error": {"code": status, "title": titles.get(status, "Error"), "message": message}}


API = ApiService(
    name="keystone",
    type="identity",
    prefix="/identity",
    version_path="/v3",
    routes=(
        Route(("GET",), "/", versions, auth=False),
        Route(("GET",), "/v3", version, auth=False),
        Route(("GET",), "/v3/", version, auth=False),
        Route(("POST",), "/v3/auth/tokens", issue, auth=False),
        Route(("GET", "HEAD"), "/v3/auth/tokens", validate, scoped=False),
        Route(("DELETE",), "/v3/auth/tokens", revoke, scoped=False),
    ),
    error_body=error_body,
)
