"""Nova v2.1 at /compute: version discovery, servers (listed and shown) and flavors.

Only microversion 2.1 is offered, because 2.1's are the response shapes returned; a client
asking for a later one gets Nova's 406, and one asking for `latest` gets 2.1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labcloud.api.http import ApiError, ApiService, Call, Reply, Route, link, member
from labcloud.api.servers import detail, summary

if TYPE_CHECKING:
    from labcloud.db.models import Flavor, Server

MICROVERSION = "2.1"
UPDATED = "2013-07-23T11:33:21Z"


def _version(call: Call) -> dict[str, object]:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": MICROVERSION,
        "min_version": MICROVERSION,
        "updated": UPDATED,
        "links": [link(call.base_url, "/compute/v2.1/")],
        "media-types": [
            {
                "base": "application/json",
                "type": "application/vnd.openstack.compute+json;version=2.1",
            }
        ],
    }


def microversion(call: Call) -> dict[str, str]:
    """The headers that say which microversion answered; 406 for one not offered."""
    asked = call.request.headers.get("OpenStack-API-Version", "")
    wanted = ""
    if asked:
        service, _, wanted = asked.strip().partition(" ")
        if service.lower() != "compute":
            wanted = ""
    wanted = wanted or call.request.headers.get("X-OpenStack-Nova-API-Version", "")
    wanted = wanted.strip().lower()
    if wanted not in ("", "latest", MICROVERSION):
        raise ApiError(
            406, f"Version {wanted} is not supported by the API. Minimum is 2.1 and maximum is 2.1."
        )
    return {
        "OpenStack-API-Version": f"compute {MICROVERSION}",
        "X-OpenStack-Nova-API-Version": MICROVERSION,
        "Vary": "OpenStack-API-Version, X-OpenStack-Nova-API-Version",
    }


def versions(call: Call) -> Reply:
    return Reply(200, {"versions": [_version(call)]})


def version(call: Call) -> Reply:
    return Reply(200, {"version": _version(call)})


def _flavor_links(call: Call, flavor: Flavor) -> list[dict[str, str]]:
    return [
        link(call.base_url, f"/compute/v2.1/flavors/{flavor.id}"),
        link(call.base_url, f"/compute/flavors/{flavor.id}", "bookmark"),
    ]


def _flavor(call: Call, flavor: Flavor) -> dict[str, object]:
    return {
        "id": flavor.id,
        "name": flavor.name,
        "ram": flavor.ram,
        "disk": flavor.disk,
        "vcpus": flavor.vcpus,
        "swap": "",
        "rxtx_factor": 1.0,
        "OS-FLV-EXT-DATA:ephemeral": flavor.ephemeral,
        "OS-FLV-DISABLED:disabled": False,
        "os-flavor-access:is_public": flavor.is_public,
        "links": _flavor_links(call, flavor),
    }


def _listed(call: Call) -> list[Flavor]:
    flavors = call.lab.flavors.list()
    # Nova's filters: minDisk and minRam; unknown query parameters are ignored.
    for key, attr in (("minDisk", "disk"), ("minRam", "ram")):
        raw = call.query(key)
        if raw is not None:
            if not raw.isdigit():
                raise ApiError(400, f"Invalid {key} filter [{raw}]")
            flavors = [f for f in flavors if getattr(f, attr) >= int(raw)]
    return flavors


def flavors(call: Call) -> Reply:
    headers = microversion(call)
    body = [{"id": f.id, "name": f.name, "links": _flavor_links(call, f)} for f in _listed(call)]
    return Reply(200, {"flavors": body}, headers)


def flavors_detail(call: Call) -> Reply:
    headers = microversion(call)
    return Reply(200, {"flavors": [_flavor(call, f) for f in _listed(call)]}, headers)


def flavor(call: Call, flavor_id: str) -> Reply:
    headers = microversion(call)
    return Reply(200, {"flavor": _flavor(call, call.lab.flavors.get(flavor_id))}, headers)


def flavor_extra_specs(call: Call, flavor_id: str) -> Reply:
    """labcloud's flavors hold no extra specs; the flavor must exist."""
    headers = microversion(call)
    call.lab.flavors.get(flavor_id)
    return Reply(200, {"extra_specs": {}}, headers)


def create_flavor(call: Call) -> Reply:
    headers = microversion(call)
    body = member(call.json(), "flavor", dict, "flavor")
    name = member(body, "name", str, "flavor.name")
    ram = _count(body, "ram", 64)
    vcpus = _count(body, "vcpus", 1)
    disk = _count(body, "disk", 0)
    ephemeral = _count(body, "OS-FLV-EXT-DATA:ephemeral", 0, default=0)
    if body.get("id") not in (None, "auto"):
        raise ApiError(400, "labcloud picks flavor ids: leave flavor.id out")
    made = call.lab.flavors.create(name, vcpus, ram, disk, ephemeral)
    return Reply(200, {"flavor": _flavor(call, made)}, headers)


def _count(body: dict[str, object], key: str, low: int, default: int | None = None) -> int:
    """A whole number >= low; Nova takes numbers in strings too ("512")."""
    value = body.get(key, default)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < low or value > 2**31:
        raise ApiError(400, f"Invalid input for field/attribute {key}: a whole number >= {low}")
    return value


def delete_flavor(call: Call, flavor_id: str) -> Reply:
    headers = microversion(call)
    call.lab.flavors.delete(flavor_id)
    return Reply(202, None, headers)


def _servers(call: Call) -> list[Server]:
    found = call.lab.compute.list()
    # Nova's filters that matter to clients; the rest are ignored.
    for key in ("name", "status"):
        wanted = call.query(key)
        if wanted is not None:
            found = [s for s in found if getattr(s, key) == wanted]
    return found


def servers(call: Call) -> Reply:
    headers = microversion(call)
    return Reply(200, {"servers": [summary(call, s) for s in _servers(call)]}, headers)


def servers_detail(call: Call) -> Reply:
    headers = microversion(call)
    return Reply(200, {"servers": [detail(call, s) for s in _servers(call)]}, headers)


def server(call: Call, server_id: str) -> Reply:
    headers = microversion(call)
    return Reply(200, {"server": detail(call, call.lab.compute.get(server_id))}, headers)


def error_body(status: int, message: str) -> object:
    kind = {
        400: "badRequest",
        401: "unauthorized",
        403: "forbidden",
        404: "itemNotFound",
        405: "HTTPMethodNotAllowed",
        406: "HTTPNotAcceptable",
        409: "conflictingRequest",
        413: "overLimit",
    }.get(status, "computeFault")
    return {kind: {"code": status, "message": message}}


API = ApiService(
    name="nova",
    type="compute",
    prefix="/compute",
    version_path="/v2.1",
    routes=(
        Route(("GET",), "/", versions, auth=False),
        Route(("GET",), "/v2.1", version, auth=False),
        Route(("GET",), "/v2.1/", version, auth=False),
        Route(("GET",), "/v2.1/servers", servers),
        Route(("GET",), "/v2.1/servers/detail", servers_detail),
        Route(("GET",), "/v2.1/servers/<server_id>", server),
        Route(("GET",), "/v2.1/flavors", flavors),
        Route(("POST",), "/v2.1/flavors", create_flavor),
        Route(("GET",), "/v2.1/flavors/detail", flavors_detail),
        Route(("GET",), "/v2.1/flavors/<flavor_id>", flavor),
        Route(("DELETE",), "/v2.1/flavors/<flavor_id>", delete_flavor),
        Route(("GET",), "/v2.1/flavors/<flavor_id>/os-extra_specs", flavor_extra_specs),
    ),
    error_body=error_body,
)
