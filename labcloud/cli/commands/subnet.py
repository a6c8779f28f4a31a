"""subnet create|list|show|set|delete"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from labcloud.cli.inputs import parse_pairs
from labcloud.cli.output import Record, Table
from labcloud.cli.registry import arg, command
from labcloud.errors import UsageError

if TYPE_CHECKING:
    from labcloud.lab import Lab

COLUMNS = ("ID", "Name", "Network", "Subnet")


def record(s: Any) -> Record:
    pools = json.loads(s.allocation_pools)
    routes = json.loads(s.host_routes)
    return Record(
        {
            "id": s.id,
            "name": s.name,
            "network_id": s.network_id,
            "cidr": s.cidr,
            "ip_version": s.ip_version,
            "gateway_ip": s.gateway_ip,
            "allocation_pools": ", ".join(f"{p['start']}-{p['end']}" for p in pools),
            "dns_nameservers": ", ".join(json.loads(s.dns_nameservers)),
            "host_routes": ", ".join(
                f"destination='{r['destination']}', gateway='{r['nexthop']}'" for r in routes
            ),
            "enable_dhcp": s.enable_dhcp,
            "ipv6_ra_mode": s.ipv6_ra_mode,
            "ipv6_address_mode": s.ipv6_address_mode,
            "project_id": s.project_id,
            "created_at": s.created_at,
            "updated_at": s.updated_at,
        }
    )


@command(
    "subnet",
    "list",
    help="List subnets",
    example="labcloud subnet list --network demo-net",
    args=(arg("--network", help="only this network's subnets"),),
)
def subnet_list(lab: Lab, a: Any) -> Table:
    rows = [(s.id, s.name, s.network_id, s.cidr) for s in lab.network.list_subnets(a.network)]
    return Table(COLUMNS, rows)


@command(
    "subnet",
    "show",
    help="Show one subnet",
    example="labcloud subnet show demo-subnet",
    args=(arg("subnet"),),
)
def subnet_show(lab: Lab, a: Any) -> Record:
    return record(lab.network.get_subnet(a.subnet))


def _gateway(text: str | None) -> str | None:
    if text is None:
        return "auto"
    return None if text.lower() == "none" else text


def _pools(items: list[str]) -> list[dict[str, str]]:
    return [parse_pairs(p, "--allocation-pool") for p in items]


def _routes(items: list[str]) -> list[dict[str, str]]:
    routes = []
    for item in items:
        pairs = parse_pairs(item, "--host-route")
        if set(pairs) != {"destination", "gateway"}:
            raise UsageError(f"--host-route {item!r}: expected destination=CIDR,gateway=IP")
        routes.append(pairs)
    return routes


@command(
    "subnet",
    "create",
    help="Create a subnet on a network (DHCP on by default)",
    example="labcloud subnet create demo-subnet --network demo-net --subnet-range 10.0.0.0/24",
    args=(
        arg("name"),
        arg("--network", required=True),
        arg("--subnet-range", required=True, metavar="CIDR"),
        arg("--ip-version", type=int, choices=(4, 6), default=None),
        arg("--gateway", metavar="IP|auto|none", default=None),
        arg(
            "--allocation-pool",
            action="append",
            default=[],
            metavar="start=IP,end=IP",
            help="(repeatable)",
        ),
        arg("--dns-nameserver", action="append", default=[], help="(repeatable)"),
        arg(
            "--host-route",
            action="append",
            default=[],
            metavar="destination=CIDR,gateway=IP",
            help="(repeatable)",
        ),
        arg("--dhcp", action="store_true", default=None),
        arg("--no-dhcp", action="store_true"),
        arg("--ipv6-ra-mode", metavar="slaac|dhcpv6-stateful|dhcpv6-stateless"),
        arg("--ipv6-address-mode", metavar="slaac|dhcpv6-stateful|dhcpv6-stateless"),
    ),
)
def subnet_create(lab: Lab, a: Any) -> Record:
    if a.dhcp and a.no_dhcp:
        raise UsageError("give --dhcp or --no-dhcp, not both")
    version = a.ip_version or (6 if ":" in a.subnet_range else 4)
    gateway = _gateway(a.gateway if a.gateway != "auto" else None)
    sub = lab.network.create_subnet(
        a.name,
        a.network,
        a.subnet_range,
        ip_version=version,
        gateway=gateway,
        allocation_pools=_pools(a.allocation_pool),
        dns_nameservers=a.dns_nameserver,
        host_routes=_routes(a.host_route),
        enable_dhcp=not a.no_dhcp,
        ipv6_ra_mode=a.ipv6_ra_mode,
        ipv6_address_mode=a.ipv6_address_mode,
    )
    return record(sub)


@command(
    "subnet",
    "set",
    help="Change a subnet (--dns-nameserver and --host-route add to the lists)",
    example="labcloud subnet set demo-subnet --dns-nameserver 192.0.2.53",
    args=(
        arg("subnet"),
        arg("--name"),
        arg("--gateway", metavar="IP|none"),
        arg("--dns-nameserver", action="append", default=[]),
        arg("--no-dns-nameservers", action="store_true", help="clear the list first"),
        arg("--host-route", action="append", default=[]),
        arg("--no-host-route", action="store_true", help="clear the list first"),
        arg("--dhcp", action="store_true"),
        arg("--no-dhcp", action="store_true"),
    ),
)
def subnet_set(lab: Lab, a: Any) -> str:
    current = lab.network.get_subnet(a.subnet)
    dns = routes = None
    if a.dns_nameserver or a.no_dns_nameservers:
        dns = ([] if a.no_dns_nameservers else json.loads(current.dns_nameservers)) + list(
            a.dns_nameserver
        )
    if a.host_route or a.no_host_route:
        old = [] if a.no_host_route else json.loads(current.host_routes)
        routes = [{"destination": r["destination"], "gateway": r["nexthop"]} for r in old]
        routes += _routes(a.host_route)
    lab.network.set_subnet(
        a.subnet,
        name=a.name,
        gateway="keep" if a.gateway is None else _gateway(a.gateway),
        dns_nameservers=dns,
        host_routes=routes,
        enable_dhcp=True if a.dhcp else False if a.no_dhcp else None,
    )
    return ""


@command(
    "subnet",
    "delete",
    help="Delete subnets (refused while ports hold addresses in them)",
    example="labcloud subnet delete demo-subnet",
    args=(arg("subnet", nargs="+"),),
)
def subnet_delete(lab: Lab, a: Any) -> str:
    for ref in a.subnet:
        lab.network.delete_subnet(ref)
    return ""
