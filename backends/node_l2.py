"""A tenant network's layer 2 on a remote compute node: its bridge and its VXLAN device,
flooding to every other VTEP (head-end replication), so guests there join the network.

Standard library and iproute2 only (`ip`, `bridge`): it runs on the node with python3 over
one SSH exec, as backends/node_probe.py does. It is the same plumbing as netlink.py's
ensure_bridge/ensure_vxlan (pyroute2, on the local node), written with the tools every
node has. It only touches "lc"-prefixed interfaces. Idempotent, both ways: ensure makes
what is missing, remove deletes what is there (a network deleted on the control node).
"""

from __future__ import annotations

import json
import subprocess
import sys

PREFIX = "lc"
FLOOD = "00:00:00:00:00:00"


def _ours(name: str) -> str:
    if not name.startswith(PREFIX) or len(name) > 15 or not name.replace("-", "").isalnum():
        raise SystemExit(f"refusing to touch interface {name!r}: not one of labcloud's")
    return name


def _run(*argv: str) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout


def _exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", "dev", name], capture_output=True).returncode == 0


def ensure(spec: dict[str, object]) -> dict[str, object]:
    """spec: bridge, mtu, vxlan, vni, port, local_ip, peers."""
    bridge, vxlan = _ours(str(spec["bridge"])), _ours(str(spec["vxlan"]))
    mtu, vni, port = str(int(spec["mtu"])), str(int(spec["vni"])), str(int(spec["port"]))  # type: ignore[call-overload]
    if not _exists(bridge):
        _run("ip", "link", "add", "name", bridge, "type", "bridge")
    _run("ip", "link", "set", "dev", bridge, "mtu", mtu, "up")
    if not _exists(vxlan):
        _run(
            "ip", "link", "add", vxlan, "type", "vxlan", "id", vni, "dstport", port,
            "local", str(spec["local_ip"]),
        )  # fmt: skip
    _run("ip", "link", "set", "dev", vxlan, "mtu", mtu, "master", bridge, "up")
    have = {
        e["dst"]
        for e in json.loads(_run("bridge", "-j", "fdb", "show", "dev", vxlan) or "[]")
        if e.get("mac") == FLOOD and e.get("dst")
    }
    wanted = {str(p) for p in spec["peers"]}  # type: ignore[attr-defined]
    for peer in sorted(wanted - have):
        _run("bridge", "fdb", "append", FLOOD, "dev", vxlan, "dst", peer)
    for peer in sorted(have - wanted):
        _run("bridge", "fdb", "del", FLOOD, "dev", vxlan, "dst", peer)
    return {"bridge": bridge, "vxlan": vxlan, "peers": sorted(wanted)}


def remove(spec: dict[str, object]) -> dict[str, object]:
    """spec: bridge, vxlan. The VXLAN device goes first, then the bridge."""
    gone = []
    for name in (_ours(str(spec["vxlan"])), _ours(str(spec["bridge"]))):
        if _exists(name):
            _run("ip", "link", "del", "dev", name)
            gone.append(name)
    return {"removed": gone}


if __name__ == "__main__":
    action = {"ensure": ensure, "remove": remove}[sys.argv[1]]
    json.dump([action(spec) for spec in json.loads(sys.argv[2])], sys.stdout)
