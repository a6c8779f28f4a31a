"""Tenant networks on remote compute nodes: a server's VXLAN networks get their bridge
and VXLAN device on its node, flooding to the control node and every other node, so the
network (and its DHCP and routers on the control/network node) spans the nodes.
"""

from __future__ import annotations

import ipaddress
from concurrent.futures import ThreadPoolExecutor

from sqlmodel import select

from labcloud.db.network_models import Network, Port
from labcloud.db.node_models import ComputeNode
from labcloud.errors import LabError, UsageError
from labcloud.services.core import netnames, record_event
from labcloud.services.network import COMPUTE_OWNER
from labcloud.services.nodes.models import LOCAL, node_spec
from labcloud.services.nodes.service import NodeService


def plumb(nodes: NodeService, server_id: str, node: str) -> None:
    """Make a server's networks reach `node` before the server is defined there."""
    if node == LOCAL:
        return
    ctx = nodes.ctx
    cfg = ctx.config.networks
    with ctx.store.read() as s:
        q = select(Port.network_id).where(
            Port.device_id == server_id, Port.device_owner == COMPUTE_OWNER
        )
        net_ids = set(s.exec(q))
        if not net_ids:
            return
        nets = list(s.exec(select(Network).where(Network.id.in_(net_ids))))  # type: ignore[attr-defined]
        rows = {r.name: r for r in s.exec(select(ComputeNode))}
    row = rows[node]
    if cfg.local_ip is None:
        raise UsageError(
            "networks reach other nodes over VXLAN, and [networks] local_ip is not set",
            "set local_ip (this node's address on the management network) in lab.toml",
        )
    for other in rows.values():
        _check_ip(other)
    specs: list[dict[str, object]] = []
    for net in nets:
        if net.provider_network_type != "vxlan" or net.provider_segment is None:
            raise UsageError(
                f"network {net.name} is {net.provider_network_type}: only VXLAN networks "
                f"reach node {node}",
                "use a vxlan network, or --node local",
            )
        specs.append(
            {
                "bridge": net.bridge,
                "vxlan": netnames.vxlan(net.id),
                "vni": net.provider_segment,
                "mtu": net.mtu,
                "port": cfg.vxlan_port,
                "local_ip": row.host,
                "peers": [cfg.local_ip] + [r.host for r in rows.values() if r.name != node],
            }
        )
    nodes.transport.ensure_l2(node_spec(row), specs)


def unplumb(nodes: NodeService, network_id: str, kind: str, bridge: str) -> None:
    """A deleted network's bridge and VXLAN device off every node (removal is idempotent,
    so nodes that never had them answer at once). A node that does not answer keeps them;
    the event says so, and the delete itself goes on."""
    if kind != "vxlan":
        return  # only VXLAN networks reach other nodes
    with nodes.ctx.store.read() as s:
        rows = list(s.exec(select(ComputeNode)))
    if not rows:
        return
    spec: list[dict[str, object]] = [{"bridge": bridge, "vxlan": netnames.vxlan(network_id)}]

    def one(row: ComputeNode) -> str | None:
        try:
            nodes.transport.remove_l2(node_spec(row), spec)
        except LabError as exc:
            return exc.message
        return None

    with ThreadPoolExecutor(max_workers=min(8, len(rows))) as pool:
        failed = [(r, why) for r, why in zip(rows, pool.map(one, rows), strict=True) if why]
    if failed:
        with nodes.ctx.store.write() as s:
            for row, why in failed:
                record_event(s, "node", row.name, row.name, f"{bridge} left in place: {why}"[:200])


def _check_ip(row: ComputeNode) -> None:
    try:
        ipaddress.ip_address(row.host)
    except ValueError:
        raise UsageError(
            f"node {row.name}'s host {row.host!r} is not an IP address: VXLAN needs one",
            f"`labcloud node set {row.name} --host IP --trust-fingerprint ...`",
        ) from None
