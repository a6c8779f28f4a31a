"""Nova's servers (v2.1 shapes): list, detail and show. Routes live in compute.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labcloud.api.http import Call, link
from labcloud.api.times import iso_time

if TYPE_CHECKING:
    from labcloud.db.models import Server

# Nova's power_state numbers and vm_state words for labcloud's states.
POWER = {"NOSTATE": 0, "RUNNING": 1, "PAUSED": 3, "SHUTDOWN": 4, "CRASHED": 6, "SUSPENDED": 7}
VM_STATE = {
    "ACTIVE": "active",
    "BUILD": "building",
    "SHUTOFF": "stopped",
    "PAUSED": "paused",
    "SUSPENDED": "suspended",
    "ERROR": "error",
    "DELETED": "deleted",
}


def _links(call: Call, kind: str, item_id: str) -> list[dict[str, str]]:
    return [
        link(call.base_url, f"/compute/v2.1/{kind}/{item_id}"),
        link(call.base_url, f"/compute/{kind}/{item_id}", "bookmark"),
    ]


def summary(call: Call, server: Server) -> dict[str, Any]:
    return {"id": server.id, "name": server.name, "links": _links(call, "servers", server.id)}


def _addresses(call: Call, server: Server) -> dict[str, list[dict[str, Any]]]:
    net = call.lab.network
    ports = net.server_ports(server.id)
    fixed = net.fixed_ips_of([p.id for p in ports])
    names = {n.id: n.name for n in net.list_networks()}
    out: dict[str, list[dict[str, Any]]] = {}
    for port in ports:
        for ip in fixed.get(port.id, []):
            address = ip["ip_address"]
            out.setdefault(names.get(port.network_id, port.network_id), []).append(
                {
                    "version": 6 if ":" in address else 4,
                    "addr": address,
                    "OS-EXT-IPS:type": "fixed",
                    "OS-EXT-IPS-MAC:mac_addr": port.mac_address,
                }
            )
    return out


def detail(call: Call, server: Server) -> dict[str, Any]:
    assert call.grant is not None
    image: dict[str, Any] | str = ""
    if server.image_id:
        image = {"id": server.image_id, "links": _links(call, "images", server.image_id)}
    flavor_ref = server.flavor_id or server.flavor_name
    volumes = [{"id": v.id} for v in call.lab.volumes.list() if v.server_id == server.id]
    groups = call.lab.security_groups.server_groups(server.id)
    return summary(call, server) | {
        "status": server.status,
        "tenant_id": server.project_id,
        "user_id": call.grant.user_id,
        "metadata": {},
        "hostId": "",
        "image": image,
        "flavor": {"id": flavor_ref, "links": _links(call, "flavors", flavor_ref)},
        "created": iso_time(server.created_at),
        "updated": iso_time(server.updated_at),
        "addresses": _addresses(call, server),
        "accessIPv4": "",
        "accessIPv6": "",
        "progress": 100 if server.status == "ACTIVE" else 0,
        "config_drive": "",
        "key_name": None,
        "OS-DCF:diskConfig": "MANUAL",
        "OS-EXT-AZ:availability_zone": "nova",
        "OS-EXT-STS:power_state": POWER.get(server.power_state, 0),
        "OS-EXT-STS:task_state": server.task_state,
        "OS-EXT-STS:vm_state": VM_STATE.get(server.status, server.status.lower()),
        "OS-SRV-USG:launched_at": (
            iso_time(server.launched_at).rstrip("Z") + ".000000" if server.launched_at else None
        ),
        "OS-SRV-USG:terminated_at": None,
        "os-extended-volumes:volumes_attached": volumes,
        "security_groups": [{"name": g} for g in groups],
    }
