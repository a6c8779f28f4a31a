"""Security group rules without the service: what a user may ask for (parsed and
checked), and how a stored rule renders for the node's filter."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from labcloud.db.l3_models import SecurityGroupRule
from labcloud.db.network_models import Port
from labcloud.errors import UsageError
from labcloud.services.core import short

DEFAULT = "default"
PROTOCOLS = ("tcp", "udp", "icmp", "any")
_PORTS = re.compile(r"^(\d{1,5})(?::(\d{1,5}))?$")


@dataclass(frozen=True)
class RuleRequest:
    protocol: str = "any"
    dst_port: str | None = None
    direction: str = "ingress"
    remote_ip: str | None = None
    remote_group: str | None = None
    ethertype: str = "IPv4"
    description: str = ""


def parse_port_range(text: str, protocol: str) -> tuple[int, int]:
    """`--dst-port N[:M]` as (min, max); only tcp and udp have ports."""
    if protocol not in ("tcp", "udp"):
        raise UsageError(
            f"--dst-port needs --protocol tcp or udp, not {protocol}", "drop --dst-port"
        )
    m = _PORTS.fullmatch(text.strip())
    if not m:
        raise UsageError(f"invalid port range {text!r}", "give N or N:M, e.g. 80 or 8000:8080")
    low = int(m.group(1))
    high = int(m.group(2)) if m.group(2) else low
    if not 1 <= low <= high <= 65535:
        raise UsageError(
            f"invalid port range {text!r}", "ports are 1-65535 and the first is not larger"
        )
    return low, high


def parse_remote_ip(text: str) -> str:
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise UsageError(
            f"invalid --remote-ip {text!r}", "give a CIDR such as 10.0.0.0/24"
        ) from None
    if net.version != 4:
        raise UsageError(f"--remote-ip {text} is not IPv4", "only --ethertype IPv4 is supported")
    return str(net)


def is_compute(port: Port) -> bool:
    """Ports a server (or whatever a user plugged into an unbound port) sends through."""
    return port.device_owner == "" or port.device_owner.startswith("compute:")


def rule_spec(r: SecurityGroupRule) -> dict[str, object]:
    return {
        "direction": r.direction,
        "protocol": r.protocol,
        "port_min": r.port_range_min,
        "port_max": r.port_range_max,
        "remote_ip_prefix": r.remote_ip_prefix,
        "remote_group": short(r.remote_group_id) if r.remote_group_id else None,
    }


def unique(items: list[dict[str, object]]) -> list[dict[str, object]]:
    seen, out = set(), []
    for item in items:
        key = tuple(sorted(item.items(), key=lambda kv: kv[0]))
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def same_rule(a: SecurityGroupRule, b: SecurityGroupRule) -> bool:
    fields = (
        "direction",
        "ethertype",
        "protocol",
        "port_range_min",
        "port_range_max",
        "remote_ip_prefix",
        "remote_group_id",
    )
    return all(getattr(a, f) == getattr(b, f) for f in fields)
