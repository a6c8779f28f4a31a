"""`labcloud doctor`: find where the store and the system disagree, and repair it."""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import select

from labcloud.db.models import Server
from labcloud.names import is_uuid
from labcloud.services.compute.service import ComputeService
from labcloud.services.core import Finding, ServiceContext


class DoctorService:
    def __init__(self, ctx: ServiceContext, compute: ComputeService) -> None:
        self.ctx = ctx
        self.compute = compute
        # Other services' checks (e.g. the network's): repair flag -> findings.
        self.checks: list[Callable[[bool], list[Finding]]] = []

    def check(self, repair: bool = False) -> list[Finding]:
        if repair:
            self.ctx.access.require_admin("doctor --repair")
        findings = [
            Finding(
                "interrupted-operation",
                r.server,
                f"{r.operation} interrupted at step {r.step}: {r.outcome}",
                True,
            )
            for r in self.compute.recovered_at_start
        ]
        if repair:
            findings += [
                Finding(
                    "interrupted-operation",
                    r.server,
                    f"{r.operation} interrupted at step {r.step}: {r.outcome}",
                    True,
                )
                for r in self.compute.recover()
            ]
        else:
            findings += [
                Finding(
                    "interrupted-operation",
                    op.resource_id,
                    f"{op.kind} interrupted at step {op.step}",
                    False,
                )
                for op in self.compute.journal.interrupted()
            ]
        self.compute.sync()
        hv, agent = self.ctx.hypervisor, self.ctx.agent
        with self.ctx.store.read() as s:
            servers = {row.id: row for row in s.exec(select(Server))}
        domains = hv.domain_states()
        for sid, row in servers.items():
            # Only this node's libvirt is looked at here; other nodes' servers show as
            # UNKNOWN or drift through compute.sync() above.
            if sid in domains or row.task_state or row.node != "local":
                continue
            disk = self.compute.instance_dir(sid) / "disk"
            fixed = False
            if repair and agent.exists(str(disk)):
                self.compute.redefine(sid)
                fixed = True
            findings.append(
                Finding(
                    "missing-domain",
                    row.name,
                    "its libvirt domain is missing"
                    + ("; defined again from the store" if fixed else ""),
                    fixed,
                )
            )
        for uuid in domains:
            if uuid not in servers:
                if repair:
                    hv.undefine(uuid)
                findings.append(
                    Finding(
                        "orphan-domain",
                        uuid,
                        "a labcloud domain with no server in the store",
                        repair,
                    )
                )
        instances = self.ctx.state_dir / "instances"
        for name in agent.list_dir(str(instances)):
            if is_uuid(name) and name not in servers:
                if repair:
                    agent.remove_tree(str(instances / name))
                findings.append(
                    Finding(
                        "orphan-disk",
                        name,
                        "an instance directory with no server in the store",
                        repair,
                    )
                )
        for extra in self.checks:
            findings += extra(repair)
        if repair:
            self.compute.sync()
        return findings
