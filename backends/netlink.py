"""Links, bridges, namespaces and addresses through netlink (pyroute2). No policy here.

Every function is idempotent (ensure_ / remove_) and acts only on names starting with
"lc", except an uplink the caller names explicitly. Functions taking `netns` act inside
that network namespace (created by ensure_netns); None is the node's own.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pyroute2 import IPRoute
from pyroute2 import netns as pr_netns
from pyroute2.netlink.exceptions import NetlinkError

from labcloud.errors import BackendError, UsageError

PREFIX = "lc"
NETNS_DIR = Path("/run/netns")

# How many netlink sockets were opened; the benchmark prints it beside its timings.
CALLS = {"netlink": 0}


def _ours(name: str) -> str:
    if not name.startswith(PREFIX) or len(name) > 15:
        raise BackendError(f"refusing to touch interface {name!r}: not one of labcloud's")
    return name


@contextmanager
def ipr(netns: str | None = None) -> Iterator[IPRoute]:
    CALLS["netlink"] += 1
    ip = IPRoute(netns=netns) if netns else IPRoute()
    try:
        yield ip
    finally:
        ip.close()


def _index(ip: IPRoute, name: str) -> int | None:
    found = ip.link_lookup(ifname=name)
    return found[0] if found else None


def _fail(what: str, exc: NetlinkError) -> BackendError:
    return BackendError(f"cannot {what}: {os.strerror(exc.code)}")


# -- features -----------------------------------------------------------------------
def has_vlan() -> bool:
    """802.1Q support: the 8021q code registers /proc/net/vlan once it is loaded."""
    return Path("/proc/net/vlan").exists() or Path("/sys/module/8021q").exists()


def has_vxlan() -> bool:
    return Path("/sys/module/vxlan").exists()


def has_bridge() -> bool:
    return Path("/sys/module/bridge").exists()


# -- links --------------------------------------------------------------------------
def link_info(netns: str | None = None, prefix: str = PREFIX) -> dict[str, dict[str, object]]:
    """Our links: name -> kind, master (name or None), up, mtu."""
    with ipr(netns) as ip:
        links = list(ip.get_links())
    names = {link["index"]: link.get("ifname") for link in links}
    out: dict[str, dict[str, object]] = {}
    for link in links:
        name = link.get("ifname")
        if not name or not name.startswith(prefix):
            continue
        info = link.get("IFLA_LINKINFO")
        kind = info.get("IFLA_INFO_KIND") if info else None
        master = link.get("IFLA_MASTER")
        out[name] = {
            "kind": kind or "",
            "master": names.get(master) if master else None,
            "up": bool(link["flags"] & 1),
            "mtu": link.get("IFLA_MTU"),
        }
    return out


def link_exists(name: str, netns: str | None = None) -> bool:
    with ipr(netns) as ip:
        return _index(ip, name) is not None


def ensure_bridge(name: str, mtu: int, up: bool = True) -> None:
    _ours(name)
    with ipr() as ip:
        if _index(ip, name) is None:
            try:
                # No STP and no forwarding delay: ports forward as soon as they join.
                ip.link("add", ifname=name, kind="bridge", br_stp_state=0, br_forward_delay=0)
            except NetlinkError as exc:
                if exc.code != errno.EEXIST:
                    raise _fail(f"create bridge {name}", exc) from None
        idx = _index(ip, name)
        ip.link("set", index=idx, mtu=mtu, state="up" if up else "down")


def set_link_up(name: str, up: bool, netns: str | None = None) -> bool:
    """Bring one of our links up or down (admin state); False when it does not exist."""
    _ours(name)
    with ipr(netns) as ip:
        idx = _index(ip, name)
        if idx is None:
            return False
        try:
            ip.link("set", index=idx, state="up" if up else "down")
        except NetlinkError as exc:
            raise _fail(f"set {name} {'up' if up else 'down'}", exc) from None
        return True


def remove_link(name: str, netns: str | None = None) -> None:
    _ours(name)
    with ipr(netns) as ip:
        idx = _index(ip, name)
        if idx is None:
            return
        try:
            ip.link("del", index=idx)
        except NetlinkError as exc:
            if exc.code != errno.ENODEV:
                raise _fail(f"delete {name}", exc) from None


def enslave(name: str, bridge: str, mtu: int | None = None) -> bool:
    """Put an existing link on a bridge and bring it up; False when it does not exist."""
    with ipr() as ip:
        idx, br = _index(ip, name), _index(ip, _ours(bridge))
        if idx is None:
            return False
        if br is None:
            raise BackendError(f"cannot plug {name}: bridge {bridge} does not exist")
        kw: dict[str, object] = {"master": br, "state": "up"}
        if mtu:
            kw["mtu"] = mtu
        try:
            ip.link("set", index=idx, **kw)
        except NetlinkError as exc:
            raise _fail(f"plug {name} into {bridge}", exc) from None
        return True


def ensure_uplink(bridge: str, iface: str) -> None:
    """The admin's host interface (named in lab.toml) as the bridge's uplink."""
    with ipr() as ip:
        if _index(ip, iface) is None:
            raise UsageError(
                f"host interface {iface} does not exist on this node",
                "fix [networks] physical_networks in lab.toml",
            )
    enslave(iface, bridge)


def ensure_vlan(bridge: str, name: str, iface: str, vid: int, mtu: int) -> None:
    _ours(name)
    if not has_vlan():
        raise BackendError(
            "this kernel lacks 802.1Q VLAN support (CONFIG_VLAN_8021Q), so vlan networks "
            "cannot be created here",
            "use a flat or vxlan network",
        )
    with ipr() as ip:
        parent = _index(ip, iface)
        if parent is None:
            raise UsageError(f"host interface {iface} does not exist on this node")
        if _index(ip, name) is None:
            try:
                ip.link("add", ifname=name, kind="vlan", link=parent, vlan_id=vid, mtu=mtu)
            except NetlinkError as exc:
                if exc.code == errno.EOPNOTSUPP:
                    raise BackendError("this kernel lacks 802.1Q VLAN support") from None
                raise _fail(f"create VLAN device {name}", exc) from None
    enslave(name, bridge, mtu)


def ensure_vxlan(
    bridge: str,
    name: str,
    vni: int,
    local_ip: str | None,
    peers: list[str],
    port: int,
    mtu: int,
) -> None:
    """A VXLAN device on the bridge, flooding to each peer VTEP (head-end replication):
    one all-zero FDB entry per remote VTEP, no multicast, no learning of remote VTEPs."""
    _ours(name)
    with ipr() as ip:
        if _index(ip, name) is None:
            kw: dict[str, object] = {
                "ifname": name,
                "kind": "vxlan",
                "vxlan_id": vni,
                "vxlan_port": port,
                "vxlan_learning": True,
            }
            if local_ip:
                kw["vxlan_local"] = local_ip
            try:
                ip.link("add", **kw)
            except NetlinkError as exc:
                if exc.code == errno.EEXIST:
                    raise BackendError(
                        f"cannot create {name}: VNI {vni} is already used on this node"
                    ) from None
                raise _fail(f"create VXLAN device {name}", exc) from None
        idx = _index(ip, name)
        ip.link("set", index=idx, mtu=mtu)
        wanted = set(peers)
        have = _flood_entries(ip, idx)
        for peer in sorted(wanted - have):
            ip.fdb("append", ifindex=idx, lladdr="00:00:00:00:00:00", dst=peer)
        for peer in sorted(have - wanted):
            ip.fdb("del", ifindex=idx, lladdr="00:00:00:00:00:00", dst=peer)
    enslave(name, bridge, mtu)


def _flood_entries(ip: IPRoute, idx: int) -> set[str]:
    out: set[str] = set()
    for entry in ip.fdb("dump", ifindex=idx):
        if entry.get("NDA_LLADDR") == "00:00:00:00:00:00" and entry.get("NDA_DST"):
            out.add(entry.get("NDA_DST"))
    return out


def flood_peers(name: str) -> list[str]:
    with ipr() as ip:
        idx = _index(ip, name)
        return sorted(_flood_entries(ip, idx)) if idx is not None else []


# -- namespaces and veths -----------------------------------------------------------
def ensure_netns(name: str) -> None:
    _ours(name)
    if not (NETNS_DIR / name).exists():
        try:
            pr_netns.create(name)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise BackendError(f"cannot create namespace {name}: {exc.strerror}") from None
    with ipr(name) as ip:
        ip.link("set", index=_index(ip, "lo"), state="up")


def remove_netns(name: str) -> None:
    _ours(name)
    if (NETNS_DIR / name).exists():
        try:
            pr_netns.remove(name)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise BackendError(f"cannot remove namespace {name}: {exc.strerror}") from None


def netns_exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def ensure_veth(outer: str, inner: str, netns: str, bridge: str | None, mtu: int) -> None:
    """A veth pair: `outer` in this namespace (on `bridge` if given), `inner` in `netns`."""
    _ours(outer), _ours(inner)
    with ipr() as ip:
        exists_outer = _index(ip, outer) is not None
    with ipr(netns) as ns:
        exists_inner = _index(ns, inner) is not None
    if exists_outer and not exists_inner:
        remove_link(outer)  # half a pair (its peer was lost): start again
        exists_outer = False
    if not exists_outer:
        with ipr() as ip:
            try:
                ip.link(
                    "add", ifname=outer, kind="veth", peer={"ifname": inner, "net_ns_fd": netns}
                )
            except NetlinkError as exc:
                raise _fail(f"create veth {outer}", exc) from None
    with ipr(netns) as ns:
        ns.link("set", index=_index(ns, inner), mtu=mtu, state="up")
    if bridge:
        enslave(outer, bridge, mtu)
    else:
        with ipr() as ip:
            ip.link("set", index=_index(ip, outer), mtu=mtu, state="up")


def set_addresses(ifname: str, cidrs: list[str], netns: str | None = None) -> None:
    """Exactly these addresses (address/prefix) on the link, no others."""
    with ipr(netns) as ip:
        idx = _index(ip, ifname)
        if idx is None:
            raise BackendError(f"cannot address {ifname}: it does not exist")
        have = {
            f"{a.get('IFA_ADDRESS')}/{a['prefixlen']}"
            for a in ip.get_addr(index=idx)
            if a.get("IFA_ADDRESS") and not a.get("IFA_ADDRESS").startswith("fe80:")
        }
        for cidr in sorted(set(cidrs) - have):
            addr, plen = cidr.split("/")
            ip.addr("add", index=idx, address=addr, prefixlen=int(plen))
        for cidr in sorted(have - set(cidrs)):
            addr, plen = cidr.split("/")
            ip.addr("del", index=idx, address=addr, prefixlen=int(plen))


def ensure_route(dst: str, gateway: str | None, netns: str | None = None) -> None:
    with ipr(netns) as ip:
        kw: dict[str, object] = {"dst": dst}
        if gateway:
            kw["gateway"] = gateway
        ip.route("replace", **kw)
