"""network create|list|show|set|delete, and network topology"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labcloud.cli.each import each
from labcloud.cli.output import Record, Table
from labcloud.cli.registry import arg, command

if TYPE_CHECKING:
    from labcloud.lab import Lab

COLUMNS = ("ID", "Name", "Subnets")


def record(lab: Lab, n: Any) -> Record:
    subnets = lab.network.subnets_of(n.id)
    return Record(
        {
            "id": n.id,
            "name": n.name,
            "status": n.status,
            "admin_state_up": n.admin_state_up,
            "mtu": n.mtu,
            "provider:network_type": n.provider_network_type,
            "provider:physical_network": n.provider_physical_network,
            "provider:segmentation_id": n.provider_segment,
            "router:external": n.external,
            "shared": n.shared,
            "subnets": ", ".join(s.id for s in subnets),
            "bridge": n.bridge,
            "project_id": n.project_id,
            "created_at": n.created_at,
            "updated_at": n.updated_at,
        }
    )


@command("network", "list", help="List networks", example="labcloud network list")
def network_list(lab: Lab, a: Any) -> Table:
    subnets: dict[str, list[str]] = {}
    for s in lab.network.list_subnets():
        subnets.setdefault(s.network_id, []).append(s.id)
    return Table(
        COLUMNS,
        [(n.id, n.name, ", ".join(subnets.get(n.id, []))) for n in lab.network.list_networks()],
    )


@command(
    "network",
    "show",
    help="Show one network",
    example="labcloud network show demo-net",
    args=(arg("network", help="name or ID"),),
)
def network_show(lab: Lab, a: Any) -> Record:
    return record(lab, lab.network.get_network(a.network))


def _segment(text: str | None) -> int | None:
    if text is None:
        return None
    from labcloud.errors import UsageError

    try:
        return int(text)
    except ValueError:
        raise UsageError(f"--provider-segment {text!r}: expected a number") from None


@command(
    "network",
    "create",
    help="Create a network (a Linux bridge; vxlan by default)",
    example="labcloud network create demo-net",
    args=(
        arg("name"),
        arg("--provider-network-type", choices=("flat", "vlan", "vxlan"), default=None),
        arg("--provider-physical-network", default=None, help="a physnet from lab.toml"),
        arg("--provider-segment", default=None, help="VLAN id or VNI"),
        arg("--external", action="store_true", help="a network routers can use as gateway"),
        arg("--share", action="store_true", help="usable by every project"),
        arg("--mtu", type=int, default=None),
        arg("--disable", action="store_true", help="admin state down"),
    ),
)
def network_create(lab: Lab, a: Any) -> Record:
    net = lab.network.create_network(
        a.name,
        provider_network_type=a.provider_network_type,
        provider_segment=_segment(a.provider_segment),
        provider_physical_network=a.provider_physical_network,
        external=a.external,
        shared=a.share,
        mtu=a.mtu,
        admin_state_up=not a.disable,
    )
    return record(lab, net)


def _tristate(yes: bool, no: bool) -> bool | None:
    return True if yes else False if no else None


@command(
    "network",
    "set",
    help="Change a network",
    example="labcloud network set demo-net --name lab-net",
    args=(
        arg("network"),
        arg("--name"),
        arg("--share", action="store_true"),
        arg("--no-share", action="store_true"),
        arg("--external", action="store_true"),
        arg("--internal", action="store_true"),
        arg("--enable", action="store_true"),
        arg("--disable", action="store_true"),
    ),
)
def network_set(lab: Lab, a: Any) -> str:
    lab.network.set_network(
        a.network,
        name=a.name,
        shared=_tristate(a.share, a.no_share),
        external=_tristate(a.external, a.internal),
        admin_state_up=_tristate(a.enable, a.disable),
    )
    return ""


@command(
    "network",
    "delete",
    help="Delete networks (refused while ports other than DHCP use them)",
    example="labcloud network delete demo-net",
    args=(arg("network", nargs="+"),),
)
def network_delete(lab: Lab, a: Any) -> str:
    return each(a.network, lab.network.delete_network)


@command(
    "network",
    "topology",
    help="Show the networks, subnets, ports, servers and routers as a graph",
    example="labcloud network topology -f json",
)
def network_topology(lab: Lab, a: Any) -> Record | str:
    from labcloud.services.network import render

    graph = lab.network.topology()
    if a.format == "table":
        return render(graph)
    return Record(graph)
