"""The WSGI application: route a request to its service's handler, check its token, and
turn whatever goes wrong into that service's error body (a 4xx for what the client got
wrong; a 500 only for labcloud's own faults, logged with the request id, never shown)."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from labcloud.api.http import ApiError, ApiService, Call, Reply, Route, status_of
from labcloud.api.identity import error_body as keystone_error
from labcloud.api.registry import SERVICES
from labcloud.config import LabConfig
from labcloud.errors import LabError
from labcloud.host_side import SystemHost, host_for
from labcloud.lab import Lab
from labcloud.services.core import Caller
from labcloud.services.tokens import Grant

log = logging.getLogger("labcloud.api")

# Who the service itself is when it checks passwords and tokens (it holds no roles).
SERVICE_CALLER = Caller("labcloud-api")


class ApiApp:
    def __init__(self, config: LabConfig) -> None:
        self.config = config
        self.host: SystemHost = host_for(config)
        # One store for every request (its pool is thread-safe), opened by this lab.
        service = Lab(config, host=self.host, recovers=False, caller=SERVICE_CALLER)
        self.store = service.store
        self.tokens = service.tokens
        rules = []
        for api in SERVICES:
            for route in api.routes:
                rules.append(
                    Rule(
                        api.prefix + route.path,
                        methods=list(route.methods),
                        endpoint=(api, route),
                        strict_slashes=False,
                        merge_slashes=False,
                    )
                )
        self.routes = Map(rules)

    def lab_for(self, grant: Grant) -> Lab:
        """A lab acting as the token's user in the token's project; it shares the store
        and the host side, and recovers nothing (the service did at its start)."""
        return Lab(
            self.config,
            grant.project_name,
            store=self.store,
            host=self.host,
            recovers=False,
            caller=Caller(grant.user_name),
        )

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        response = self.respond(request)
        return response(environ, start_response)

    def respond(self, request: Request) -> Response:
        request_id = f"req-{uuid.uuid4()}"
        api = _service_of(request.path)
        try:
            adapter = self.routes.bind_to_environ(request.environ)
            (api, route), args = adapter.match(return_rule=False)
            reply = self._run(request, api, route, args)
        except ApiError as exc:
            reply = Reply(exc.status, api.error_body(exc.status, exc.message), exc.headers)
        except LabError as exc:
            status = status_of(exc)
            if status == 500:
                log.warning("%s %s: %s", request_id, request.path, exc.one_line())
            reply = Reply(status, api.error_body(status, exc.message))
        except MethodNotAllowed:
            reply = Reply(405, api.error_body(405, "the method is not allowed here"))
        except NotFound:
            reply = Reply(404, api.error_body(404, "the resource could not be found"))
        except HTTPException as exc:
            status = exc.code or 400
            reply = Reply(status, api.error_body(status, exc.description or "bad request"))
        except Exception:
            log.exception("%s %s %s failed", request_id, request.method, request.path)
            reply = Reply(500, api.error_body(500, f"an internal error; see {request_id}"))
        return _response(reply, request_id, request.method == "HEAD")

    def _run(
        self, request: Request, api: ApiService, route: Route, args: Mapping[str, Any]
    ) -> Reply:
        base = request.host_url.rstrip("/")
        grant = None
        if route.auth:
            token = request.headers.get("X-Auth-Token", "")
            if not token:
                raise ApiError(401, "the request you have made requires authentication")
            grant = self.tokens.validate(token)
            if route.scoped and grant.project_id is None:
                raise ApiError(403, "a token scoped to a project is needed here")
        call = Call(request, base, grant, self.lab_for, self.tokens)
        return route.handler(call, **args)


def _service_of(path: str) -> ApiService:
    """The service whose error body a request gets, even one that matches no route."""
    for api in SERVICES:
        if path == api.prefix or path.startswith(api.prefix + "/"):
            return api
    return _ROOT


def _response(reply: Reply, request_id: str, head: bool) -> Response:
    headers = {"x-openstack-request-id": request_id, **reply.headers}
    if reply.status == 401:
        headers.setdefault("WWW-Authenticate", 'Keystone uri="/identity"')
    if reply.body is None or head:
        return Response(status=reply.status, headers=headers)
    text = json.dumps(reply.body)
    return Response(text, status=reply.status, headers=headers, content_type="application/json")


# What / and unknown prefixes answer with: Keystone's error body.
_ROOT = ApiService(
    name="labcloud",
    type="root",
    prefix="",
    version_path="",
    routes=(),
    error_body=keystone_error,
)
