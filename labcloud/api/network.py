"""Neutron v2.0 at /network: version discovery, extensions, and networks, subnets and
ports listed and shown (Neutron's shapes, its filters, its NeutronError body)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from labcloud.api.http import ApiService, Call, Reply, Route, filtered, link
from labcloud.api.times import iso_time

if TYPE_CHECKING:
    from labcloud.db.network_models import Network, Port, Subnet

# What labcloud's Neutron really does; clients ask before using a feature.
EXTENSIONS = (
    ("external-net", "Neutron external network", "Adds external network attribute"),
    ("provider", "Provider Network", "Expose mapping of virtual networks to physical networks"),
    ("router", "Neutron L3 Router", "Routers with an external gateway and SNAT"),
    ("security-group", "security-group", "The security groups extension"),
    ("port-security", "Port Security", "Provides port security"),
    ("quotas", "Quota management support", "Expose functions for quotas management"),
)


def versions(call: Call) -> Reply:
    current = {
        "id": "v2.0",
        "status": "CURRENT",
        "links": [link(call.base_url, "/network/v2.0/")],
    }
    return Reply(200, {"versions": [current]})


def extensions(call: Call) -> Reply:
    body = [
        {"alias": a, "name": n, "description": d, "updated": "2013-01-20T00:00:00-00:00",
         "links": []}
        for a, n, d in EXTENSIONS
    ]  # fmt: skip
    return Reply(200, {"extensions": body})


def _common(row: Network | Subnet | Port) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "tenant_id": row.project_id,
        "project_id": row.project_id,
        "description": "",
        "tags": [],
        "revision_number": 1,
        "created_at": iso_time(row.created_at),
        "updated_at": iso_time(row.updated_at),
    }


def _network(net: Network, subnet_ids: list[str]) -> dict[str, Any]:
    return _common(net) | {
        "status": net.status,
        "admin_state_up": net.admin_state_up,
        "mtu": net.mtu,
        "shared": net.shared,
        "subnets": subnet_ids,
        "router:external": net.external,
        "provider:network_type": net.provider_network_type,
        "provider:physical_network": net.provider_physical_network,
        "provider:segmentation_id": net.provider_segment,
        "port_security_enabled": True,
        "availability_zones": ["nova"],
        "availability_zone_hints": [],
        "ipv4_address_scope": None,
        "ipv6_address_scope": None,
        "l2_adjacency": True,
        "is_default": False,
    }


def _subnet(sub: Subnet) -> dict[str, Any]:
    return _common(sub) | {
        "network_id": sub.network_id,
        "cidr": sub.cidr,
        "ip_version": sub.ip_version,
        "gateway_ip": sub.gateway_ip,
        "allocation_pools": json.loads(sub.allocation_pools),
        "dns_nameservers": json.loads(sub.dns_nameservers),
        "host_routes": json.loads(sub.host_routes),
        "enable_dhcp": sub.enable_dhcp,
        "ipv6_ra_mode": sub.ipv6_ra_mode,
        "ipv6_address_mode": sub.ipv6_address_mode,
        "subnetpool_id": None,
        "segment_id": None,
        "service_types": [],
    }


def _port(call: Call, port: Port, fixed: list[dict[str, str]]) -> dict[str, Any]:
    return _common(port) | {
        "network_id": port.network_id,
        "mac_address": port.mac_address,
        "status": port.status,
        "admin_state_up": port.admin_state_up,
        "device_id": port.device_id,
        "device_owner": port.device_owner,
        "fixed_ips": [{"subnet_id": f["subnet_id"], "ip_address": f["ip_address"]} for f in fixed],
        "port_security_enabled": port.port_security_enabled,
        "security_groups": call.lab.security_groups.port_group_ids(port.id),
        "allowed_address_pairs": [],
        "extra_dhcp_opts": [],
        "binding:vnic_type": "normal",
    }


def _subnet_ids(call: Call) -> dict[str, list[str]]:
    ids: dict[str, list[str]] = {}
    for sub in call.lab.network.list_subnets():
        ids.setdefault(sub.network_id, []).append(sub.id)
    return ids


def networks(call: Call) -> Reply:
    subs = _subnet_ids(call)
    rows = [_network(n, subs.get(n.id, [])) for n in call.lab.network.list_networks()]
    return Reply(200, {"networks": filtered(rows, call.request.args)})


def network(call: Call, network_id: str) -> Reply:
    net = call.lab.network.get_network(network_id)
    return Reply(200, {"network": _network(net, _subnet_ids(call).get(net.id, []))})


def subnets(call: Call) -> Reply:
    rows = [_subnet(s) for s in call.lab.network.list_subnets()]
    return Reply(200, {"subnets": filtered(rows, call.request.args)})


def subnet(call: Call, subnet_id: str) -> Reply:
    return Reply(200, {"subnet": _subnet(call.lab.network.get_subnet(subnet_id))})


def ports(call: Call) -> Reply:
    listed = call.lab.network.list_ports()
    fixed = call.lab.network.fixed_ips_of([p.id for p in listed])
    rows = [_port(call, p, fixed.get(p.id, [])) for p in listed]
    return Reply(200, {"ports": filtered(rows, call.request.args)})


def port(call: Call, port_id: str) -> Reply:
    found = call.lab.network.get_port(port_id)
    fixed = call.lab.network.fixed_ips_of([found.id]).get(found.id, [])
    return Reply(200, {"port": _port(call, found, fixed)})


def error_body(status: int, message: str) -> object:
    kinds = {400: "BadRequest", 401: "NotAuthorized", 403: "Forbidden", 404: "NotFound",
             409: "Conflict"}  # fmt: skip
    return {"NeutronError": {"type": kinds.get(status, "NeutronError"), "message": message,
                             "detail": ""}}  # fmt: skip


API = ApiService(
    name="neutron",
    type="network",
    prefix="/network",
    version_path="",
    routes=(
        Route(("GET",), "/", versions, auth=False),
        Route(("GET",), "/v2.0/extensions", extensions),
        Route(("GET",), "/v2.0/networks", networks),
        Route(("GET",), "/v2.0/networks/<network_id>", network),
        Route(("GET",), "/v2.0/subnets", subnets),
        Route(("GET",), "/v2.0/subnets/<subnet_id>", subnet),
        Route(("GET",), "/v2.0/ports", ports),
        Route(("GET",), "/v2.0/ports/<port_id>", port),
    ),
    error_body=error_body,
)
