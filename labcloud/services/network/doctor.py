"""The network part of `labcloud doctor`: bridges, VXLAN devices, taps and dnsmasq that
the store says should exist, compared with the node's links and processes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import select

from labcloud.db.models import Server
from labcloud.db.network_models import Network, Port
from labcloud.services.core import Finding, netnames
from labcloud.services.network.common import COMPUTE_OWNER

if TYPE_CHECKING:
    from labcloud.services.network.host import NetworkHost


def check_networks(service: NetworkHost, repair: bool) -> list[Finding]:
    ctx = service.ctx
    agent = ctx.net
    with ctx.store.read() as s:
        nets = list(s.exec(select(Network)))
        ports = list(
            s.exec(select(Port).where(Port.device_owner == COMPUTE_OWNER, Port.device_id != ""))
        )
        servers = {row.id: row for row in s.exec(select(Server))}
    links = agent.links()
    findings: list[Finding] = []
    for net in nets:
        problems = []
        if net.bridge not in links:
            problems.append(("missing-bridge", f"bridge {net.bridge} is missing"))
        elif net.provider_network_type == "vxlan":
            vx = links.get(netnames.vxlan(net.id))
            if vx is None or vx.get("master") != net.bridge:
                problems.append(("missing-vxlan", f"VXLAN device of {net.bridge} is missing"))
        spec = service.dhcp_spec(net.id)
        dhcp = agent.dhcp_status(str(spec["netns"])) if spec is not None else {}
        if spec is not None and not dhcp["running"]:
            restarting = " (its supervisor is starting it again)" if dhcp.get("supervised") else ""
            problems.append(("dead-dhcp", f"dnsmasq for {net.name} is not running{restarting}"))
        elif spec is not None and not dhcp.get("supervised"):
            problems.append(
                ("dead-dhcp-supervisor", f"dnsmasq for {net.name} runs with no supervisor")
            )
        if problems and repair:
            service.ensure_network(net.id)  # bridge, uplink or VXLAN, DHCP: all idempotent
        findings += [Finding(kind, net.name, detail, repair) for kind, detail in problems]
    bridges = {n.id: n.bridge for n in nets}
    if repair and any(f.kind == "missing-bridge" for f in findings):
        links = agent.links()
    running = ctx.hypervisor.domain_states()
    for port in ports:
        srv = servers.get(port.device_id)
        dom = running.get(port.device_id)
        if srv is None or dom is None or dom.state not in ("running", "paused"):
            continue
        bridge = bridges.get(port.network_id)
        tap = links.get(port.tap)
        if tap is None:
            findings.append(
                Finding(
                    "missing-tap", srv.name, f"tap {port.tap} of port {port.name} is gone", False
                )
            )
        elif bool(tap.get("up")) and not port.admin_state_up:
            if repair:
                service.apply_port_state(port)
            findings.append(
                Finding(
                    "port-state",
                    srv.name,
                    f"tap {port.tap} is up but port {port.name} is disabled"
                    + ("; set down" if repair else ""),
                    repair,
                )
            )
        elif tap.get("master") != bridge:
            fixed = repair and bridge is not None and agent.plug(port.tap, bridge)
            findings.append(
                Finding(
                    "detached-tap",
                    srv.name,
                    f"tap {port.tap} is not on bridge {bridge}"
                    + ("; attached again" if fixed else ""),
                    bool(fixed),
                )
            )
    # Left by a delete that died midway: devices of networks the store no longer has.
    known = {netnames.short(n.id) for n in nets}
    for name, info in sorted(links.items()):
        prefix, _, short = name.partition("-")
        if short in known or prefix not in ("lcbr", "lcvx", "lcdh"):
            continue
        if prefix == "lcbr" and info.get("kind") == "bridge":
            if repair:
                agent.remove_bridge(name)
            findings.append(
                Finding("orphan-bridge", name, "a labcloud bridge with no network", repair)
            )
        elif prefix == "lcvx":
            if repair:
                agent.remove_link(name)
            findings.append(Finding("orphan-vxlan", name, "a VXLAN device with no network", repair))
        elif prefix == "lcdh":
            if repair:
                agent.remove_dhcp(f"lcdhcp-{short}", name)
            findings.append(Finding("orphan-dhcp", name, "DHCP of a deleted network", repair))
    return findings
