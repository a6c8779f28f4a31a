"""The network agent: a node's bridges, VXLAN devices and DHCP, as plain-data calls.

Runs in-process on the local node; its arguments and results are JSON-able so the same
code can run on a remote node over SSH.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labcloud.backends import netlink
from labcloud.backends.dnsmasq import Dnsmasq


class LocalNetworkAgent:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def features(self) -> dict[str, bool]:
        return {
            "bridge": netlink.has_bridge(),
            "vxlan": netlink.has_vxlan(),
            "vlan": netlink.has_vlan(),
        }

    def ensure_bridge(self, bridge: str, mtu: int, up: bool = True) -> None:
        netlink.ensure_bridge(bridge, mtu, up)

    def set_link_up(self, name: str, up: bool) -> bool:
        return netlink.set_link_up(name, up)

    def remove_bridge(self, bridge: str) -> None:
        netlink.remove_link(bridge)

    def ensure_uplink(self, bridge: str, iface: str) -> None:
        netlink.ensure_uplink(bridge, iface)

    def ensure_vlan(self, bridge: str, name: str, iface: str, vid: int, mtu: int) -> None:
        netlink.ensure_vlan(bridge, name, iface, vid, mtu)

    def remove_link(self, name: str) -> None:
        netlink.remove_link(name)

    def ensure_vxlan(
        self,
        bridge: str,
        name: str,
        vni: int,
        local_ip: str | None,
        peers: list[str],
        port: int,
        mtu: int,
    ) -> None:
        netlink.ensure_vxlan(bridge, name, vni, local_ip, peers, port, mtu)

    def plug(self, ifname: str, bridge: str) -> bool:
        return netlink.enslave(ifname, bridge)

    def links(self) -> dict[str, dict[str, object]]:
        return netlink.link_info()

    def ensure_dhcp(self, spec: dict[str, object]) -> None:
        """spec: netns, veth_bridge, veth_ns, bridge, mtu, addresses (cidr list),
        subnets ({tag, cidr, ip_version, gateway, dns, routes, mtu}),
        hosts ({mac, ip, hostname})."""
        netns, inner = str(spec["netns"]), str(spec["veth_ns"])
        mtu = int(spec["mtu"])  # type: ignore[call-overload]
        with self._locked(netns):
            self._ensure_dhcp(spec, netns, inner, mtu)

    def _ensure_dhcp(self, spec: dict[str, object], netns: str, inner: str, mtu: int) -> None:
        netlink.ensure_netns(netns)
        netlink.ensure_veth(str(spec["veth_bridge"]), inner, netns, str(spec["bridge"]), mtu)
        netlink.set_addresses(inner, list(spec["addresses"]), netns)  # type: ignore[call-overload]
        Dnsmasq(self.state_dir, netns).apply(
            inner,
            list(spec["subnets"]),  # type: ignore[call-overload]
            list(spec["hosts"]),  # type: ignore[call-overload]
        )

    def remove_dhcp(self, netns: str, veth: str) -> None:
        with self._locked(netns):
            Dnsmasq(self.state_dir, netns).remove()
            netlink.remove_link(veth)
            netlink.remove_netns(netns)

    @contextmanager
    def _locked(self, netns: str) -> Iterator[None]:
        """One process at a time changes a network's DHCP (files, veth, dnsmasq)."""
        lock_dir = self.state_dir / "dhcp"
        lock_dir.mkdir(parents=True, exist_ok=True)
        with open(lock_dir / f"{netns}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def dhcp_status(self, netns: str) -> dict[str, object]:
        status = Dnsmasq(self.state_dir, netns).status()
        status["netns"] = netlink.netns_exists(netns)
        return status
