"""Security groups (Neutron): groups of rules bound to server ports, enforced per tap.

Every project has a `default` group, made the first time it is needed: ingress only from
members of the same group, all egress (as in Neutron). A server's ports get `default`
unless `server create --security-group` names others. Any change re-renders the node's
whole ruleset from the store and loads it atomically (backends/nftables.py).
"""

from __future__ import annotations

import builtins
import fcntl
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from labcloud.db.l3_models import PortSecurityGroup, SecurityGroup, SecurityGroupRule
from labcloud.db.models import Server, utcnow
from labcloud.db.network_models import IPAllocation, Network, Port
from labcloud.errors import BackendError, Conflict, LabError, NotFound, UsageError
from labcloud.names import check_name, is_uuid, new_uuid
from labcloud.services.core import (
    L3Agent,
    ServiceContext,
    charge,
    find,
    record_event,
    short,
    writes,
)
from labcloud.services.l3.security_group_part import SecurityGroupPart
from labcloud.services.l3.security_group_rules import (
    DEFAULT,
    PROTOCOLS,
    RuleRequest,
    is_compute,
    parse_port_range,
    parse_remote_ip,
    rule_spec,
    same_rule,
    unique,
)

if TYPE_CHECKING:
    from labcloud.services.core import Finding

NodeFilters = Callable[[dict[str, str] | None], dict[str, Callable[[dict[str, object]], None]]]


def _apply_remote(
    loaders: dict[str, Callable[[dict[str, object]], None]], specs: dict[str, dict[str, object]]
) -> None:
    """Load each node's ruleset, all nodes at once. A node with filtered ports that cannot
    load its rules is an error (its guests would be filtered by stale rules); a node with
    none has nothing to protect, and its failure is left to the node's own state."""
    with ThreadPoolExecutor(max_workers=min(8, len(specs))) as pool:
        futures = {n: pool.submit(loaders[n], spec) for n, spec in specs.items()}
    for node, future in futures.items():
        exc = future.exception()
        if exc is not None and specs[node]["ports"]:
            if isinstance(exc, LabError):
                raise exc
            raise BackendError(f"node {node}: cannot load the security group rules: {exc}")


class SecurityGroupService:
    noun = "security group"

    def __init__(self, ctx: ServiceContext, l3: Callable[[], L3Agent]) -> None:
        self.ctx = ctx
        self._l3 = l3
        # The filters of the other nodes that are up (and a migrating server's destination):
        # node -> load a ruleset there, through the host agent on that node (lab.py wires
        # it); None on one machine.
        self.node_filters: NodeFilters | None = None

    @property
    def l3(self) -> L3Agent:
        return self._l3()

    # -- groups ---------------------------------------------------------------------
    def ensure_default(self, s: Session, project_id: str) -> SecurityGroup:
        """The project's default group, made (with Neutron's two rules) if missing."""
        group = s.exec(
            select(SecurityGroup).where(
                SecurityGroup.project_id == project_id, SecurityGroup.name == DEFAULT
            )
        ).first()
        if group is not None:
            return group
        group = SecurityGroup(
            id=new_uuid(),
            name=DEFAULT,
            status="ACTIVE",
            project_id=project_id,
            description="Default security group",
        )
        s.add(group)
        s.flush()
        for direction, remote in (("ingress", group.id), ("egress", None)):
            s.add(
                SecurityGroupRule(
                    id=new_uuid(),
                    project_id=project_id,
                    security_group_id=group.id,
                    direction=direction,
                    remote_group_id=remote,
                )
            )
        return group

    def _find(self, s: Session, ref: str) -> SecurityGroup:
        if ref == DEFAULT:
            return self.ensure_default(s, self.ctx.project.id)
        return find(s, SecurityGroup, ref, "security group", project_id=self.ctx.project.id)

    @writes
    def create(self, name: str, description: str = "") -> SecurityGroup:
        check_name(name, "security group name")
        with self.ctx.store.write() as s:
            project_id = self.ctx.project.id
            self.ensure_default(s, project_id)
            if s.exec(
                select(SecurityGroup.id).where(
                    SecurityGroup.project_id == project_id, SecurityGroup.name == name
                )
            ).first():
                raise Conflict(f"a security group named {name!r} already exists")
            charge(self.ctx, s, project_id, security_groups=1, security_group_rules=1)
            group = SecurityGroup(
                id=new_uuid(),
                name=name,
                status="ACTIVE",
                project_id=project_id,
                description=description,
            )
            s.add(group)
            # Neutron gives a new group one rule: all egress.
            s.add(
                SecurityGroupRule(
                    id=new_uuid(),
                    project_id=project_id,
                    security_group_id=group.id,
                    direction="egress",
                )
            )
            record_event(s, "security_group", group.id, name, "created")
        return group

    def list(self) -> list[SecurityGroup]:
        with self.ctx.store.write() as s:
            self.ensure_default(s, self.ctx.project.id)
        with self.ctx.store.read() as s:
            query = select(SecurityGroup).where(self.ctx.scope(SecurityGroup))
            return list(s.exec(query.order_by(SecurityGroup.name)))

    def get(self, ref: str) -> tuple[SecurityGroup, builtins.list[SecurityGroupRule]]:
        with self.ctx.store.write() as s:
            group = self._find(s, ref)
            rules = self._rules(s, group.id)
        return group, rules

    @staticmethod
    def _rules(s: Session, group_id: str) -> builtins.list[SecurityGroupRule]:
        query = select(SecurityGroupRule).where(SecurityGroupRule.security_group_id == group_id)
        return list(s.exec(query.order_by(col(SecurityGroupRule.created_at))))

    @writes
    def delete(self, ref: str) -> SecurityGroup:
        with self.ctx.store.write() as s:
            group = self._find(s, ref)
            if group.name == DEFAULT:
                raise Conflict("the default security group cannot be deleted")
            used = s.exec(
                select(PortSecurityGroup.port_id).where(
                    PortSecurityGroup.security_group_id == group.id
                )
            ).first()
            if used:
                raise Conflict(
                    f"security group {group.name} is in use by port {used}",
                    "remove it from the servers first (`server remove security group`)",
                )
            referenced = s.exec(
                select(SecurityGroupRule).where(
                    SecurityGroupRule.remote_group_id == group.id,
                    SecurityGroupRule.security_group_id != group.id,
                )
            ).first()
            if referenced:
                raise Conflict(
                    f"security group {group.name} is the remote group of rule {referenced.id}",
                    "delete that rule first",
                )
            for rule in self._rules(s, group.id):
                s.delete(rule)
            # Rules first: deleting the group first would cascade them away under the ORM.
            s.flush()
            s.delete(group)
            record_event(s, "security_group", group.id, group.name, "deleted")
        self.apply()
        return group

    # -- rules ----------------------------------------------------------------------
    @writes
    def create_rule(self, group_ref: str, req: RuleRequest) -> SecurityGroupRule:
        if req.ethertype != "IPv4":
            raise UsageError(f"ethertype {req.ethertype!r} is not supported", "use IPv4")
        if req.direction not in ("ingress", "egress"):
            raise UsageError(f"invalid direction {req.direction!r}", "use --ingress or --egress")
        protocol = req.protocol.lower()
        if protocol not in PROTOCOLS:
            raise UsageError(f"invalid protocol {req.protocol!r}", "use tcp, udp, icmp or any")
        low = high = None
        if req.dst_port is not None:
            low, high = parse_port_range(req.dst_port, protocol)
        if req.remote_ip and req.remote_group:
            raise UsageError("give --remote-ip or --remote-group, not both")
        remote_ip = parse_remote_ip(req.remote_ip) if req.remote_ip else None
        with self.ctx.store.write() as s:
            group = self._find(s, group_ref)
            remote = self._find(s, req.remote_group).id if req.remote_group else None
            if remote_ip is None and remote is None and req.direction == "ingress":
                remote_ip = "0.0.0.0/0"
            rule = SecurityGroupRule(
                id=new_uuid(),
                project_id=group.project_id,
                security_group_id=group.id,
                direction=req.direction,
                ethertype="IPv4",
                protocol=None if protocol == "any" else protocol,
                port_range_min=low,
                port_range_max=high,
                remote_ip_prefix=remote_ip,
                remote_group_id=remote,
                description=req.description,
            )
            for other in self._rules(s, group.id):
                if same_rule(other, rule):
                    raise Conflict(f"security group {group.name} already has this rule", other.id)
            charge(self.ctx, s, group.project_id, security_group_rules=1)
            s.add(rule)
            group.updated_at = utcnow()
            record_event(s, "security_group", group.id, group.name, f"rule {rule.id} added")
        self.apply()
        return rule

    def list_rules(self, group_ref: str | None = None) -> builtins.list[SecurityGroupRule]:
        with self.ctx.store.write() as s:
            if group_ref:
                return self._rules(s, self._find(s, group_ref).id)
            self.ensure_default(s, self.ctx.project.id)
            query = select(SecurityGroupRule).where(self.ctx.scope(SecurityGroupRule))
            return list(s.exec(query.order_by(col(SecurityGroupRule.created_at))))

    @writes
    def delete_rule(self, rule_id: str) -> SecurityGroupRule:
        with self.ctx.store.write() as s:
            rule = s.get(SecurityGroupRule, rule_id) if is_uuid(rule_id) else None
            if rule is None or rule.project_id != self.ctx.project.id:
                raise NotFound(
                    f"no security group rule with ID {rule_id!r}",
                    "`labcloud security group rule list` shows them",
                )
            s.delete(rule)
        self.apply()
        return rule

    def group_names(self) -> dict[str, str]:
        with self.ctx.store.read() as s:
            return {g.id: g.name for g in s.exec(select(SecurityGroup))}

    # -- servers --------------------------------------------------------------------
    def server_groups(self, server_ref: str) -> builtins.list[str]:
        with self.ctx.store.read() as s:
            server = find(s, Server, server_ref, "server", project_id=self.ctx.project.id)
            rows = s.exec(
                select(SecurityGroup.name)
                .join(PortSecurityGroup)
                .join(Port, col(Port.id) == PortSecurityGroup.port_id)
                .where(Port.device_id == server.id)
            )
            return sorted(set(rows))

    @writes
    def add_to_server(self, server_ref: str, group_ref: str) -> None:
        with self.ctx.store.write() as s:
            server = find(s, Server, server_ref, "server", project_id=self.ctx.project.id)
            group = self._find(s, group_ref)
            ports = self._server_ports(s, server.id)
            if not ports:
                raise Conflict(f"server {server.name} has no ports to protect")
            for port in ports:
                if s.get(PortSecurityGroup, (port.id, group.id)) is None:
                    s.add(PortSecurityGroup(port_id=port.id, security_group_id=group.id))
        self.apply()

    @writes
    def remove_from_server(self, server_ref: str, group_ref: str) -> None:
        with self.ctx.store.write() as s:
            server = find(s, Server, server_ref, "server", project_id=self.ctx.project.id)
            group = self._find(s, group_ref)
            found = False
            for port in self._server_ports(s, server.id):
                row = s.get(PortSecurityGroup, (port.id, group.id))
                if row is not None:
                    s.delete(row)
                    found = True
            if not found:
                raise NotFound(f"server {server.name} is not in security group {group.name}")
        self.apply()

    @writes
    def add_to_port(self, port_ref: str, group_ref: str) -> None:
        self._port_binding(port_ref, group_ref, add=True)

    @writes
    def remove_from_port(self, port_ref: str, group_ref: str) -> None:
        self._port_binding(port_ref, group_ref, add=False)

    def _port_binding(self, port_ref: str, group_ref: str, add: bool) -> None:
        with self.ctx.store.write() as s:
            port = find(s, Port, port_ref, "port", project_id=self.ctx.project.id)
            group = self._find(s, group_ref)
            row = s.get(PortSecurityGroup, (port.id, group.id))
            if add and row is None:
                s.add(PortSecurityGroup(port_id=port.id, security_group_id=group.id))
            elif not add:
                if row is None:
                    raise NotFound(f"port {port.name} is not in security group {group.name}")
                s.delete(row)
        self.apply()

    def port_groups(self, port_id: str) -> builtins.list[str]:
        with self.ctx.store.read() as s:
            rows = s.exec(
                select(SecurityGroup.name)
                .join(PortSecurityGroup)
                .where(PortSecurityGroup.port_id == port_id)
            )
            return sorted(rows)

    def port_group_ids(self, port_id: str) -> builtins.list[str]:
        """The ids of a port's groups, as Neutron lists them on the port."""
        with self.ctx.store.read() as s:
            rows = s.exec(
                select(PortSecurityGroup.security_group_id).where(
                    PortSecurityGroup.port_id == port_id
                )
            )
            return sorted(rows)

    @staticmethod
    def _server_ports(s: Session, server_id: str) -> builtins.list[Port]:
        return list(s.exec(select(Port).where(Port.device_id == server_id)))

    # -- the ruleset ----------------------------------------------------------------
    def spec(
        self,
        s: Session,
        exclude_device: str | None = None,
        node: str = "local",
        moving: dict[str, str] | None = None,
    ) -> dict[str, object]:
        """One node's whole filter as plain data for the L3 agent: the ports of the servers
        on that node (unbound ports are plugged on the control node, so they are local's).
        Remote groups' members span every node: a rule admits a member wherever it runs.
        `moving` (server -> its destination): filtered on both nodes while it migrates."""
        moving = moving or {}
        placed = dict(s.exec(select(Server.id, Server.node)).all())
        ports = [
            p
            for p in s.exec(select(Port).where(col(Port.port_security_enabled).is_(True)))
            if is_compute(p) and p.tap and p.device_id != exclude_device
        ]
        live = {p.id for p in ports}
        ports = [
            p for p in ports if node in (placed.get(p.device_id, "local"), moving.get(p.device_id))
        ]
        ips: dict[str, list[str]] = {}
        for alloc in s.exec(select(IPAllocation)):
            if ":" not in alloc.ip_address:
                ips.setdefault(alloc.port_id, []).append(alloc.ip_address)
        bindings: dict[str, list[str]] = {}
        members: dict[str, list[str]] = {}
        for b in s.exec(select(PortSecurityGroup)):
            bindings.setdefault(b.port_id, []).append(b.security_group_id)
            if b.port_id in live:
                members.setdefault(b.security_group_id, []).extend(ips.get(b.port_id, []))
        rules: dict[str, list[SecurityGroupRule]] = {}
        for r in s.exec(select(SecurityGroupRule)):
            rules.setdefault(r.security_group_id, []).append(r)
        bridges = {n.id: n.bridge for n in s.exec(select(Network))}
        out_ports, remote_groups = [], set()
        for port in ports:
            port_rules = []
            for gid in sorted(bindings.get(port.id, [])):
                for r in rules.get(gid, []):
                    port_rules.append(rule_spec(r))
                    if r.remote_group_id:
                        remote_groups.add(r.remote_group_id)
            out_ports.append(
                {
                    "tap": port.tap,
                    "mac": port.mac_address,
                    "ips": ips.get(port.id, []),
                    "rules": unique(port_rules),
                }
            )
        return {
            "ports": out_ports,
            "groups": {short(g): members.get(g, []) for g in sorted(remote_groups)},
            "bridges": sorted({bridges[p.network_id] for p in ports if p.network_id in bridges}),
        }

    def apply(
        self, exclude_device: str | None = None, moving: dict[str, str] | None = None
    ) -> None:
        """Render each node's whole filter from the store and load it. One process at a time
        reads and loads, so a slower process never loads an older snapshot over a newer."""
        locks = self.ctx.state_dir / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        with open(locks / "security-groups.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            loaders = self.node_filters(moving) if self.node_filters is not None else {}
            with self.ctx.store.read() as s:
                spec = self.spec(s, exclude_device, "local", moving)
                remote = {n: self.spec(s, exclude_device, n, moving) for n in loaders}
            self.l3.apply_filter(spec)
            if remote:
                _apply_remote(loaders, remote)

    def doctor_check(self, repair: bool) -> builtins.list[Finding]:
        """labcloud's nft tables gone (e.g. `nft flush ruleset`): reload them from the store."""
        from labcloud.services.core import Finding

        # Needed once a server's port is filtered (an unbound port is filtered from its
        # next load on, as a port is bound in Neutron before its tap appears).
        with self.ctx.store.read() as s:
            bound = select(Port.id).where(
                col(Port.device_owner).startswith("compute:"),
                col(Port.port_security_enabled).is_(True),
            )
            needed = s.exec(bound).first() is not None
        present = set(self.l3.filter_tables())
        missing = sorted({"bridge labcloud", "inet labcloud"} - present) if needed else []
        if repair:  # always: a bridge made again by the network's repair lost br_netfilter
            self.apply()
        return [
            Finding(
                "missing-nft-table",
                table,
                "the security group table is missing" + ("; loaded again" if repair else ""),
                repair,
            )
            for table in missing
        ]

    # port listener (network service): a plugged or unplugged port changes the ruleset
    def port_plugged(self, port_id: str) -> None:
        # A port plugged without groups gets its project's default, as Neutron gives every
        # new port (the network service does not know about groups).
        with self.ctx.store.write() as s:
            port = s.get(Port, port_id)
            unbound = (
                port is not None
                and not s.exec(
                    select(PortSecurityGroup).where(PortSecurityGroup.port_id == port_id)
                ).first()
            )
            if port is not None and unbound and is_compute(port):
                group = self.ensure_default(s, port.project_id)
                s.add(PortSecurityGroup(port_id=port_id, security_group_id=group.id))
        self.apply()

    def port_unplugged(self, port_id: str) -> None:
        self.apply()

    def port_updated(self, port_id: str) -> None:
        self.apply()

    @cached_property
    def server_part(self) -> SecurityGroupPart:
        return SecurityGroupPart(self)
