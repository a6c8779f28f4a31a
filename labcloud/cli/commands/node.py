"""node add|list|show|set|remove|enable|disable"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from labcloud.cli.output import Record, Table
from labcloud.cli.registry import arg, command

if TYPE_CHECKING:
    from labcloud.lab import Lab

COLUMNS = (
    "Name",
    "State",
    "Status",
    "Roles",
    "Zone",
    "Servers",
    "vCPU Used",
    "vCPU Total",
    "RAM Used MiB",
    "RAM Total MiB",
    "Disk Used GiB",
    "Disk Free GiB",
)


def _row(n: Any) -> tuple[Any, ...]:
    return (
        n.name,
        n.state,
        n.status,
        ",".join(n.roles),
        n.zone,
        n.servers,
        n.vcpus_used,
        n.vcpus,
        n.ram_used_mb,
        n.ram_mb,
        n.disk_used_gb,
        n.disk_free_gb,
    )


def record(n: Any) -> Record:
    return Record(
        {
            "name": n.name,
            "host": n.host,
            "state": n.state,
            "status": n.status,
            "reason": n.reason,
            "roles": ",".join(n.roles),
            "availability_zone": n.zone,
            "host_key": n.fingerprint,
            "shared_storage": n.shared_storage,
            "servers": n.servers,
            "vcpus": f"{n.vcpus_used} used of {n.vcpus}",
            "ram_mib": f"{n.ram_used_mb} used of {n.ram_mb}",
            "disk_gib": f"{n.disk_used_gb} used, {n.disk_free_gb} free of {n.disk_gb}",
            "checked_at": n.checked_at,
        }
    )


def _confirm(what: str, fingerprint: str) -> bool:
    """Ask on a terminal; a script must pass --trust-fingerprint instead."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return False
    print(f"node {what} offers host key {fingerprint}", file=sys.stderr)
    print("compare it with `ssh-keygen -lf` on the node's console.", file=sys.stderr)
    sys.stderr.write("trust this key? [y/N] ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


_ROLE = arg(
    "--role",
    action="append",
    choices=("control", "compute", "network", "storage"),
    help="(repeatable; default compute)",
)
_TRUST = arg("--trust-fingerprint", metavar="SHA256:...", help="the host key you checked")


@command(
    "node",
    "add",
    help="Enrol a node reached over SSH: shows its host key, pins it once confirmed",
    example="labcloud node add node1 --host 10.0.0.11 --key ~/.ssh/lab --trust-fingerprint "
    "SHA256:...",
    args=(
        arg("name"),
        arg("--host", required=True, help="address or name to SSH to"),
        arg("--port", type=int, default=22),
        arg("--user", default="root"),
        arg("--key", help="private key file (default: the SSH agent's keys)"),
        _ROLE,
        arg("--availability-zone", default="nova"),
        arg("--libvirt-uri", default="qemu:///system", help="libvirt URI on the node"),
        _TRUST,
    ),
)
def node_add(lab: Lab, a: Any) -> Record:
    return record(
        lab.nodes.add(
            a.name,
            a.host,
            port=a.port,
            user=a.user,
            key_file=a.key,
            roles=tuple(a.role or ("compute",)),
            zone=a.availability_zone,
            libvirt_uri=a.libvirt_uri,
            trust_fingerprint=a.trust_fingerprint,
            confirm=_confirm,
        )
    )


@command(
    "node",
    "list",
    help="List nodes: up or down, roles, and capacity used and free (one probe per node)",
    example="labcloud node list",
)
def node_list(lab: Lab, a: Any) -> Table:
    return Table(COLUMNS, [_row(n) for n in lab.nodes.list()])


@command(
    "node",
    "show",
    help="Show one node",
    example="labcloud node show node1",
    args=(arg("node"),),
)
def node_show(lab: Lab, a: Any) -> Record:
    return record(lab.nodes.get(a.node))


@command(
    "node",
    "set",
    help="Change a node's address, login, roles or zone; re-trust a changed host key",
    example="labcloud node set node1 --trust-fingerprint SHA256:...",
    args=(
        arg("node"),
        arg("--host"),
        arg("--port", type=int),
        arg("--user"),
        arg("--key"),
        _ROLE,
        arg("--availability-zone"),
        _TRUST,
    ),
)
def node_set(lab: Lab, a: Any) -> Record:
    return record(
        lab.nodes.set(
            a.node,
            host=a.host,
            port=a.port,
            user=a.user,
            key_file=a.key,
            roles=tuple(a.role) if a.role else None,
            zone=a.availability_zone,
            trust_fingerprint=a.trust_fingerprint,
        )
    )


@command(
    "node",
    "remove",
    help="Forget a node (it must have no servers); its pinned key is dropped",
    example="labcloud node remove node1",
    args=(arg("node", nargs="+"),),
)
def node_remove(lab: Lab, a: Any) -> str:
    for name in a.node:
        lab.nodes.remove(name)
    return ""


@command(
    "node",
    "enable",
    help="Let the scheduler place servers on a node again",
    example="labcloud node enable node1",
    args=(arg("node"),),
)
def node_enable(lab: Lab, a: Any) -> Record:
    return record(lab.nodes.set_enabled(a.node, True))


@command(
    "node",
    "disable",
    help="Keep new servers off a node (its servers keep running)",
    example="labcloud node disable node1 --reason maintenance",
    args=(arg("node"), arg("--reason", default="")),
)
def node_disable(lab: Lab, a: Any) -> Record:
    return record(lab.nodes.set_enabled(a.node, False, a.reason))
