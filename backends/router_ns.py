"""A router as a network namespace (Neutron's L3 agent, without the agent).

The namespace `lcr-<router8>` has one veth leg per subnet: the leg's namespace end holds
the subnet's gateway address and the port's MAC, its other end (same name, in the node's
namespace) is a port of the network's bridge. The gateway leg on an external network also
holds the floating addresses (/32) and carries the default route. Forwarding is on, and
NAT is an nft table of labcloud's own in the namespace (nftables.render_nat).

`sync_router` is idempotent and converges the namespace on a whole description, so every
change, and the doctor's repair, goes through the same code.
"""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
from pathlib import Path

from labcloud.backends import nftables

from labcloud.errors import BackendError

_NETNS = re.compile(r"^lcr-[0-9a-f]{8}$")
_LEG = re.compile(r"^lcq[rg]-[0-9a-f]{8}$")
_IFNAME = re.compile(r"^lc[a-z]{1,5}-[0-9a-f]{8}$")
NETNS_DIR = Path("/run/netns")


def _ip(args: list[str], what: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            ["ip", *args], capture_output=True, text=True, timeout=60, check=False
        )
    except FileNotFoundError:
        raise BackendError(f"cannot {what}: ip (iproute2) is not installed") from None
    if check and proc.returncode != 0:
        raise BackendError(f"cannot {what}: {' '.join(proc.stderr.split())[:300]}")
    return proc


def _check(pattern: re.Pattern[str], name: object, what: str) -> str:
    if not isinstance(name, str) or not pattern.fullmatch(name):
        raise BackendError(f"refusing to touch {what} {name!r}: not a labcloud name")
    return name


def router_namespaces() -> list[str]:
    try:
        return sorted(p.name for p in NETNS_DIR.iterdir() if _NETNS.fullmatch(p.name))
    except FileNotFoundError:
        return []


def namespace_exists(netns: str) -> bool:
    return (NETNS_DIR / _check(_NETNS, netns, "namespace")).exists()


def _links(netns: str | None) -> dict[str, dict[str, object]]:
    args = (["-n", netns] if netns else []) + ["-j", "addr", "show"]
    out = _ip(args, "list links").stdout
    return {str(item["ifname"]): item for item in json.loads(out or "[]")}


def _ensure_namespace(netns: str) -> None:
    if not namespace_exists(netns):
        _ip(["netns", "add", netns], f"create namespace {netns}")
    _ip(["-n", netns, "link", "set", "lo", "up"], "bring lo up")
    proc = subprocess.run(
        ["ip", "netns", "exec", netns, "sysctl", "-qw", "net.ipv4.ip_forward=1"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if proc.returncode != 0:
        raise BackendError(f"cannot turn forwarding on in {netns}: {proc.stderr.strip()}")


def _ensure_leg(netns: str, leg: dict[str, object], host: dict[str, dict[str, object]]) -> None:
    name = _check(_LEG, leg["name"], "leg")
    bridge = _check(_IFNAME, leg["bridge"], "bridge")
    if bridge not in host:
        raise BackendError(f"bridge {bridge} is missing", "run `labcloud doctor --repair`")
    inside = _links(netns)
    if name not in inside or name not in host:
        _ip(["link", "del", name], "remove a stale leg", check=False)
        _ip(["-n", netns, "link", "del", name], "remove a stale leg", check=False)
        _ip(
            ["link", "add", name, "type", "veth", "peer", "name", name, "netns", netns],
            f"create router leg {name}",
        )
        inside = _links(netns)
    mtu = str(int(leg.get("mtu") or 1500))  # type: ignore[call-overload]
    _ip(["link", "set", name, "master", bridge, "mtu", mtu, "up"], f"plug {name}")
    ns = ["-n", netns]
    _ip([*ns, "link", "set", name, "address", str(leg["mac"]), "mtu", mtu, "up"], "set MAC")
    want = {str(ipaddress.IPv4Interface(str(a))) for a in leg.get("addresses", [])}  # type: ignore[attr-defined]
    have = {
        f"{a['local']}/{a['prefixlen']}"
        for a in inside.get(name, {}).get("addr_info", [])  # type: ignore[attr-defined]
        if a.get("family") == "inet"
    }
    for addr in sorted(have - want):
        _ip([*ns, "addr", "del", addr, "dev", name], f"remove {addr} from {name}", check=False)
    for addr in sorted(want - have):
        _ip([*ns, "addr", "add", addr, "dev", name], f"add {addr} to {name}")


def sync_router(spec: dict[str, object]) -> None:
    """Make the router's namespace match spec:

    {"namespace", "legs": [{"name", "bridge", "mac", "addresses": ["10.0.0.1/24"], "mtu"}],
     "gateway": {"name", "bridge", "mac", "addresses": [...], "gateway_ip", "mtu"} | None,
     "snat": bool, "internal_cidrs": [...], "floating_ips": [{"floating", "fixed"}]}
    The gateway's addresses include the floating addresses as /32.
    """
    netns = _check(_NETNS, spec["namespace"], "namespace")
    _ensure_namespace(netns)
    host = _links(None)
    legs: list[dict[str, object]] = list(spec.get("legs", []))  # type: ignore[call-overload]
    gateway = spec.get("gateway")
    if isinstance(gateway, dict):
        legs.append(gateway)
    wanted = {str(leg["name"]) for leg in legs}
    for name in _links(netns):
        if _LEG.fullmatch(name) and name not in wanted:
            _ip(["-n", netns, "link", "del", name], f"remove leg {name}", check=False)
    for leg in legs:
        _ensure_leg(netns, leg, host)
    ns = ["-n", netns]
    _ip([*ns, "route", "del", "default"], "clear the default route", check=False)
    if isinstance(gateway, dict) and gateway.get("gateway_ip"):
        via = str(ipaddress.IPv4Address(str(gateway["gateway_ip"])))
        _ip([*ns, "route", "replace", "default", "via", via, "dev", str(gateway["name"])], "route")
    gw_address = None
    if isinstance(gateway, dict) and gateway.get("addresses"):
        gw_address = str(ipaddress.IPv4Interface(str(gateway["addresses"][0])).ip)  # type: ignore[index]
    nftables.apply_nat(
        netns,
        {
            "gateway_dev": gateway["name"] if isinstance(gateway, dict) else None,
            "gateway_address": gw_address,
            "snat": spec.get("snat", True),
            "internal_cidrs": spec.get("internal_cidrs", []),
            "floating_ips": spec.get("floating_ips", []),
        },
    )


def remove_router(netns: str) -> None:
    """Delete the namespace; its veth ends go with it, and with them their peers."""
    netns = _check(_NETNS, netns, "namespace")
    if not namespace_exists(netns):
        return
    for name in _links(netns):
        if _LEG.fullmatch(name):
            _ip(["-n", netns, "link", "del", name], f"remove leg {name}", check=False)
    _ip(["netns", "del", netns], f"delete namespace {netns}")


def describe(netns: str) -> dict[str, object]:
    """What is there: legs with addresses, and the default route (for tests and doctor)."""
    netns = _check(_NETNS, netns, "namespace")
    if not namespace_exists(netns):
        return {"exists": False}
    links = _links(netns)
    routes = json.loads(_ip(["-n", netns, "-j", "route", "show"], "list routes").stdout or "[]")
    return {
        "exists": True,
        "legs": {
            n: [
                f"{a['local']}/{a['prefixlen']}"
                for a in v.get("addr_info", [])  # type: ignore[attr-defined]
                if a.get("family") == "inet"
            ]
            for n, v in links.items()
            if _LEG.fullmatch(n)
        },
        "default": next((r.get("gateway") for r in routes if r.get("dst") == "default"), None),
        "nat": "ip labcloud" in nftables.tables(netns),
    }
