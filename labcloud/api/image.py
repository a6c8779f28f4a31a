"""Glance v2 at /image: version discovery, and images listed and shown (Glance's shapes).

labcloud keeps each image's SHA-256, which Glance calls its multihash (os_hash_algo and
os_hash_value); Glance's legacy MD5 `checksum` is not computed, so it is null.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from labcloud.api.http import ApiService, Call, Reply, Route, filtered, link
from labcloud.api.times import iso_time

if TYPE_CHECKING:
    from labcloud.db.models import Image

VERSION = "v2.9"


def versions(call: Call) -> Reply:
    current = {"id": VERSION, "status": "CURRENT", "links": [link(call.base_url, "/image/v2/")]}
    return Reply(300, {"versions": [current]})


def _image(image: Image) -> dict[str, object]:
    body: dict[str, object] = {
        "id": image.id,
        "name": image.name,
        "status": image.status,
        "visibility": image.visibility,
        "protected": image.protected,
        "os_hidden": False,
        "checksum": None,
        "os_hash_algo": "sha256" if image.checksum else None,
        "os_hash_value": image.checksum or None,
        "container_format": image.container_format,
        "disk_format": image.disk_format,
        "size": image.size or None,
        "virtual_size": image.virtual_size or None,
        "min_disk": image.min_disk,
        "min_ram": image.min_ram,
        "owner": image.project_id,
        "tags": [],
        "created_at": iso_time(image.created_at),
        "updated_at": iso_time(image.updated_at),
        "self": f"/v2/images/{image.id}",
        "file": f"/v2/images/{image.id}/file",
        "schema": "/v2/schemas/image",
    }
    if image.kernel_id:
        body["kernel_id"] = image.kernel_id
    if image.ramdisk_id:
        body["ramdisk_id"] = image.ramdisk_id
    # Glance puts additional properties beside the core ones, as strings.
    for key, value in json.loads(image.properties or "{}").items():
        body.setdefault(key, value if isinstance(value, str) else json.dumps(value))
    return body


def images(call: Call) -> Reply:
    rows = filtered([_image(i) for i in call.lab.images.list()], call.request.args)
    return Reply(200, {"images": rows, "first": "/v2/images", "schema": "/v2/schemas/images"})


def image(call: Call, image_id: str) -> Reply:
    return Reply(200, _image(call.lab.images.get(image_id)))


def error_body(status: int, message: str) -> object:
    titles = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}
    title = titles.get(status, "Error")
    return {"code": status, "title": title, "message": message}


API = ApiService(
    name="glance",
    type="image",
    prefix="/image",
    version_path="",
    routes=(
        Route(("GET",), "/", versions, auth=False),
        Route(("GET",), "/versions", versions, auth=False),
        Route(("GET",), "/v2/images", images),
        Route(("GET",), "/v2/images/<image_id>", image),
    ),
    error_body=error_body,
)
