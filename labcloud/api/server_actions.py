"""Nova's server create, delete and actions (os-start, os-stop, reboot, console output),
each one call of the compute service.

labcloud's create is synchronous: the 202 comes once the server is ACTIVE (or rolled
back, with the error), so a client that polls for ACTIVE, as `--wait` does, sees it at
once. The request is read into the one CreateRequest the CLI and the TUI fill too.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from labcloud.api.http import ApiError, Call, Reply, member, optional
from labcloud.api.servers import summary
from labcloud.services.core import CreateRequest


def _networks(body: dict[str, Any], request: CreateRequest) -> None:
    nets = body.get("networks")
    if nets in (None, "auto"):
        return
    if nets == "none":
        return
    if not isinstance(nets, list):
        raise ApiError(400, "Invalid input for field/attribute networks: a list, auto or none")
    for nic in nets:
        if not isinstance(nic, dict):
            raise ApiError(400, "Invalid input for field/attribute networks: each is an object")
        if nic.get("port"):
            request.ports.append(member(nic, "port", str, "networks[].port"))
        elif nic.get("uuid"):
            uuid = member(nic, "uuid", str, "networks[].uuid")
            fixed = optional(nic, "fixed_ip", str, "networks[].fixed_ip")
            if fixed:
                request.nics.append({"net-id": uuid, "v4-fixed-ip": fixed})
            else:
                request.networks.append(uuid)
        else:
            raise ApiError(400, "a network needs a uuid or a port")


def create(call: Call) -> Reply:
    body = member(call.json(), "server", dict, "server")
    name = member(body, "name", str, "server.name")
    flavor = member(body, "flavorRef", str, "server.flavorRef")
    image = optional(body, "imageRef", str, "server.imageRef") or None
    if body.get("min_count", 1) != 1 or body.get("max_count", 1) != 1:
        raise ApiError(400, "labcloud makes one server per request (min_count = max_count = 1)")
    request = CreateRequest()
    _networks(body, request)
    request.key_name = optional(body, "key_name", str, "server.key_name")
    for group in optional(body, "security_groups", list, "server.security_groups") or []:
        if not isinstance(group, dict) or not isinstance(group.get("name"), str):
            raise ApiError(400, "security_groups: each is an object with a name")
        request.security_groups.append(group["name"])
    user_data = optional(body, "user_data", str, "server.user_data")
    if user_data:
        try:
            request.user_data = base64.b64decode(user_data, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "user_data must be base64") from None
    zone = optional(body, "availability_zone", str, "server.availability_zone")
    request.availability_zone = zone
    server = call.lab.compute.create(name, image, flavor, request=request)
    made = summary(call, server) | {"OS-DCF:diskConfig": "MANUAL", "security_groups": [
        {"name": g} for g in (request.security_groups or ["default"])
    ]}  # fmt: skip
    return Reply(202, {"server": made})


def delete(call: Call, server_id: str) -> Reply:
    call.lab.compute.delete(server_id)
    return Reply(204)


def action(call: Call, server_id: str) -> Reply:
    body = call.json()
    if len(body) != 1:
        raise ApiError(400, "an action body names exactly one action")
    ((name, args),) = body.items()
    compute = call.lab.compute
    if name == "os-start":
        compute.start(server_id)
    elif name == "os-stop":
        compute.stop(server_id)
    elif name == "reboot":
        kind = member(args, "type", str, "reboot.type") if isinstance(args, dict) else ""
        if kind.upper() not in ("SOFT", "HARD"):
            raise ApiError(400, "reboot.type is SOFT or HARD")
        compute.reboot(server_id, hard=kind.upper() == "HARD")
    elif name == "os-getConsoleOutput":
        length = args.get("length") if isinstance(args, dict) else None
        if length is not None and (not isinstance(length, int) or isinstance(length, bool)):
            raise ApiError(400, "os-getConsoleOutput.length must be a whole number")
        text = compute.console_log(server_id, max(length or 0, 0))
        return Reply(200, {"output": text})
    else:
        raise ApiError(400, f"the action {name!r} is not offered")
    return Reply(202)
