"""DHCP: the network's dnsmasq, rendered from the store and kept in step."""

from __future__ import annotations

import json

from sqlmodel import select

from labcloud.db.network_models import Network, Port, Subnet
from labcloud.errors import NotFound
from labcloud.services.core import (
    netnames,
)
from labcloud.services.network.base import NetworkBase
from labcloud.services.network.common import (
    DHCP_OWNER,
    fixed_ips_by_port,
    served,
    v6_mode,
)


class DhcpOps(NetworkBase):
    # -- the node side --------------------------------------------------------------
    def sync_dhcp(self, network_id: str) -> None:
        """Make the network's dnsmasq serve exactly the store's ports (or stop it)."""
        agent = self.ctx.net
        spec = self.dhcp_spec(network_id)
        # Another process may apply an older view after ours: read again after applying,
        # and apply once more if the store moved on meanwhile (the last writer converges).
        for _ in range(3):
            if spec is None:
                agent.remove_dhcp(
                    netnames.dhcp_netns(network_id), netnames.dhcp_veth_bridge(network_id)
                )
            else:
                agent.ensure_dhcp(spec)
            again = self.dhcp_spec(network_id)
            if again == spec:
                return
            spec = again

    def dhcp_spec(self, network_id: str) -> dict[str, object] | None:
        with self.ctx.store.read() as s:
            net = s.get(Network, network_id)
            if net is None:
                return None
            subnets = [
                sub
                for sub in s.exec(select(Subnet).where(Subnet.network_id == net.id))
                if served(sub)
            ]
            if not subnets:
                return None
            ports = list(s.exec(select(Port).where(Port.network_id == net.id)))
            ips = fixed_ips_by_port(s, [p.id for p in ports])
        by_id = {sub.id: sub for sub in subnets}
        hosts: list[dict[str, str]] = []
        addresses: list[str] = []
        for port in ports:
            for fixed in ips.get(port.id, []):
                sub = by_id.get(fixed["subnet_id"])
                if sub is None:
                    continue
                slaac = sub.ip_version == 6 and v6_mode(sub) != "dhcpv6-stateful"
                if slaac and port.device_owner != DHCP_OWNER:
                    continue  # SLAAC: the guest forms the address, no DHCPv6 lease
                if port.device_owner == DHCP_OWNER:
                    addresses.append(f"{fixed['ip_address']}/{sub.cidr.split('/')[1]}")
                elif port.device_owner != "network:floatingip":  # no NIC asks for these
                    hosts.append(
                        {
                            "mac": port.mac_address,
                            "ip": fixed["ip_address"],
                            "hostname": "host-"
                            + fixed["ip_address"].replace(".", "-").replace(":", "-"),
                        }
                    )
        return {
            "netns": netnames.dhcp_netns(net.id),
            "veth_bridge": netnames.dhcp_veth_bridge(net.id),
            "veth_ns": netnames.dhcp_veth_ns(net.id),
            "bridge": net.bridge,
            "mtu": net.mtu,
            "addresses": addresses,
            "subnets": [
                {
                    "tag": f"s{i}",
                    "cidr": sub.cidr,
                    "ip_version": sub.ip_version,
                    "gateway": sub.gateway_ip,
                    "dns": json.loads(sub.dns_nameservers),
                    "routes": json.loads(sub.host_routes),
                    "mtu": net.mtu,
                    "mode": v6_mode(sub),
                }
                for i, sub in enumerate(subnets)
            ],
            "hosts": hosts,
        }

    def ensure_network(self, network_id: str) -> None:
        """Everything a network needs on the node: bridge, uplink or VXLAN, DHCP."""
        with self.ctx.store.read() as s:
            net = s.get(Network, network_id)
        if net is None:
            raise NotFound(f"network {network_id} does not exist")
        self.ensure_l2(net)
        self.sync_dhcp(net.id)
