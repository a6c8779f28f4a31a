"""Names of everything the network service creates on a node, in one place.

Every name starts with "lc" and fits IFNAMSIZ (15 characters); labcloud never touches an
interface whose name lacks the prefix (except an uplink the admin names in lab.toml).
The short id is the first 8 hex digits of the resource's UUID.

    lcbr-<net8>     a network's Linux bridge
    lcvx-<net8>     a vxlan network's VXLAN device, enslaved to the bridge
    lcvl-<net8>     a vlan network's 802.1Q device on the physnet's interface
    lctap-<port8>   a server port's tap on the bridge
    lcdhcp-<net8>   the network's DHCP namespace (a netns name, not an interface)
    lcdh-<net8>     the DHCP veth's bridge side
    lcdhn-<net8>    the DHCP veth's namespace side
    lcr-<router8>   a router's namespace (part B)
    lcqr-<port8>    a router interface leg; lcqg-<port8> the gateway leg (part B)
    lcfip-<fip8>    floating-IP devices (part B)
"""

from __future__ import annotations

import re

PREFIX = "lc"
IFNAMSIZ = 15  # including the NUL: 15 usable characters

_OURS = re.compile(r"^lc[a-z]{1,5}-[0-9a-f]{8}$")


def short(resource_id: str) -> str:
    return resource_id.replace("-", "")[:8]


def _name(prefix: str, resource_id: str) -> str:
    name = f"{prefix}-{short(resource_id)}"
    assert len(name) <= IFNAMSIZ, name
    return name


def bridge(network_id: str) -> str:
    return _name("lcbr", network_id)


def vxlan(network_id: str) -> str:
    return _name("lcvx", network_id)


def vlan(network_id: str) -> str:
    return _name("lcvl", network_id)


def tap(port_id: str) -> str:
    return _name("lctap", port_id)


def dhcp_netns(network_id: str) -> str:
    return _name("lcdhcp", network_id)


def dhcp_veth_bridge(network_id: str) -> str:
    return _name("lcdh", network_id)


def dhcp_veth_ns(network_id: str) -> str:
    return _name("lcdhn", network_id)


def router_netns(router_id: str) -> str:
    return _name("lcr", router_id)


def router_leg(port_id: str) -> str:
    return _name("lcqr", port_id)


def gateway_leg(port_id: str) -> str:
    return _name("lcqg", port_id)


def floating_ip(fip_id: str) -> str:
    return _name("lcfip", fip_id)


def is_ours(name: str) -> bool:
    """True for names labcloud made (and so may change or delete)."""
    return bool(_OURS.fullmatch(name))
