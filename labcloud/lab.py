"""The composition root: one Lab per process wires the config, the store, the backends
and the services. Screens and the CLI get services from here and nothing else.

Backends are imported lazily, so a command that needs no libvirt never loads it.
"""

from __future__ import annotations

import os
from functools import cached_property

from labcloud.config import LabConfig, load_config
from labcloud.db.models import Server
from labcloud.db.store import Store
from labcloud.host_side import SystemHost, host_for
from labcloud.services.compute import (
    ComputeService,
    DoctorService,
    FlavorService,
    KeypairService,
    MigrationService,
    PlacementPart,
    SeedPart,
    ServerSsh,
)
from labcloud.services.core import (
    Caller,
    ChangeFeed,
    Finding,
    Hypervisor,
    L3Agent,
    QuotaService,
    ServiceContext,
    current_caller,
)
from labcloud.services.identity import IdentityService
from labcloud.services.images import ImageService
from labcloud.services.l3 import FloatingIPService, RouterService, SecurityGroupService, l3_topology
from labcloud.services.network import NetworkService
from labcloud.services.nodes import NodeService, plumb, unplumb
from labcloud.services.stacks.service import StackService
from labcloud.services.tokens import TokenService
from labcloud.services.volumes import VolumeService


class Lab:
    def __init__(
        self,
        config: LabConfig,
        project: str | None = None,
        *,
        all_projects: bool = False,
        host: SystemHost | None = None,
        recovers: bool = True,
        caller: Caller | None = None,
        store: Store | None = None,
    ) -> None:
        self.config = config
        # None: the unix user running this process (services/access.py). `labcloud serve`
        # names the token's user, and shares one store across its requests.
        self.caller = caller
        self._given_store = store
        # Each service, when first used, finishes or rolls back what a killed process left
        # (its journal). A long-lived process (`labcloud serve`) recovers once at its start
        # and builds its per-request labs with recovers=False.
        self.recovers = recovers
        # Everything that touches this machine comes from here (labcloud/host_side.py).
        self.host = host if host is not None else host_for(config)
        # None: the caller's last `project use`, else the lab's default (context.py).
        self.project_arg = project or os.environ.get("LABCLOUD_PROJECT") or None
        self.all_projects = all_projects

    @classmethod
    def open(
        cls, lab_file: str | None = None, project: str | None = None, *, all_projects: bool = False
    ) -> Lab:
        return cls(load_config(lab_file), project, all_projects=all_projects)

    def switch_project(self, name: str) -> str:
        """Act in another project from now on (the TUI's `:servers @demo`); like
        `project use`, it is remembered as the caller's last choice."""
        project = self.identity.use_project(name)
        self.project_arg = self.ctx.project_name = project.name
        self.ctx.forget_project()
        return self.ctx.project.name

    @property
    def project_name(self) -> str:
        """The current project, once resolved and checked against the caller's roles."""
        return self.ctx.project.name

    @cached_property
    def store(self) -> Store:
        return self._given_store or Store(self.config.site.state_dir)

    @staticmethod
    def _domain_builder(spec: dict[str, object]) -> str:
        from labcloud.backends.domain_config import build_domain_xml

        return build_domain_xml(spec)

    @staticmethod
    def _device_builder(kind: str, spec: dict[str, object]) -> str:
        from labcloud.backends.domain_config import build_device_xml

        return build_device_xml(kind, spec)

    @cached_property
    def ctx(self) -> ServiceContext:
        return ServiceContext(
            self.config,
            self.store,
            self.project_arg,
            self.host.hypervisor,
            self.host.agent,
            self._domain_builder,
            self._device_builder,
            network_agent_factory=self.host.network_agent,
            caller=self.caller or current_caller(),
            all_projects=self.all_projects,
            node_hypervisor=lambda name: self.nodes.hypervisor(name),
            node_agent=lambda name: self.nodes.agent(name),
            node_stage=lambda name, files, report: self.nodes.stage(name, files, report),
        )

    @cached_property
    def nodes(self) -> NodeService:
        return NodeService(self.ctx, self.host.node_transport, self.host.local_probe)

    @cached_property
    def placement(self) -> PlacementPart:
        return PlacementPart(self.nodes)

    @cached_property
    def migration(self) -> MigrationService:
        migration = MigrationService(self.compute, self.nodes)
        migration.refilter = lambda moving: self.security_groups.apply(moving=moving)
        # A killed migration: forward or back, by where its domain and disks are.
        migration.recovered_at_start = migration.recover() if self.recovers else []
        return migration

    @cached_property
    def changes(self) -> ChangeFeed:
        return ChangeFeed(self.ctx, self._remote_hypervisors)

    def _remote_hypervisors(self) -> list[tuple[str, Hypervisor]]:
        names = [str(spec["name"]) for spec, _state in self.nodes.watched()]
        return [(name, self.nodes.hypervisor(name)) for name in names]

    @cached_property
    def identity(self) -> IdentityService:
        return IdentityService(self.ctx)

    @cached_property
    def tokens(self) -> TokenService:
        return TokenService(self.ctx, self.config.api.token_hours)

    @cached_property
    def quotas(self) -> QuotaService:
        return QuotaService(self.ctx)

    @cached_property
    def flavors(self) -> FlavorService:
        return FlavorService(self.ctx)

    @cached_property
    def images(self) -> ImageService:
        images = ImageService(self.ctx)
        images.fetch_from_node = lambda node, path, size, digest: self.nodes.copy_files(
            node, "local", [{"path": path, "size": size, "sha256": digest}], lambda _m: None
        )
        # An import or snapshot killed midway is rolled back: no row, no partial file.
        if self.recovers:
            images.recover()
        return images

    @cached_property
    def keypairs(self) -> KeypairService:
        return KeypairService(self.ctx)

    @cached_property
    def server_ssh(self) -> ServerSsh:
        return ServerSsh(self.compute, self._server_address, self.config.site.state_dir)

    def _server_address(self, server: Server) -> str | None:
        """Where `server ssh` connects: a floating IP (reachable from outside), else the
        first fixed IP of its first NIC."""
        ports = self.network.server_ports(server.id)
        port_ids = {p.id for p in ports}
        for fip in self.floating_ips.list():
            if fip.port_id in port_ids:
                return fip.floating_ip_address
        fixed = self.network.fixed_ips_of([p.id for p in ports])
        for port in ports:
            for ip in fixed.get(port.id, []):
                return ip["ip_address"]
        return None

    def _nic_macs(self, server: Server) -> list[str]:
        """The MACs of a server's NICs, in order, from the parts that give it NICs."""
        return [str(nic["mac"]) for nic in self.compute.devices(server).nics]

    @cached_property
    def network(self) -> NetworkService:
        network = NetworkService(self.ctx)
        # Security groups follow ports being plugged; routers and FIPs join the topology.
        network.port_listeners.append(self.security_groups)
        # A NIC hot-plugged into a server on another node: its network reaches there first.
        network.server_part.node_plumb = lambda server_id, node: plumb(self.nodes, server_id, node)
        network.l2_removers.append(lambda *net: unplumb(self.nodes, *net))
        network.remote_link = self.nodes.set_link_up
        network.topology_contributors.append(
            lambda s, graph: l3_topology(s, graph, self.ctx.project.id)
        )
        # Interrupted network, subnet and port operations are finished or rolled back.
        network.recovered_at_start = network.recover() if self.recovers else []
        return network

    @cached_property
    def l3_agent(self) -> L3Agent:
        return self.host.l3_agent()

    @cached_property
    def security_groups(self) -> SecurityGroupService:
        groups = SecurityGroupService(self.ctx, lambda: self.l3_agent)
        # Servers on other nodes are filtered there, by the same rules rendered the same way.
        groups.node_filters = self.nodes.filter_loaders
        return groups

    @cached_property
    def routers(self) -> RouterService:
        routers = RouterService(self.ctx, self.network, lambda: self.l3_agent)
        # Interrupted router operations are finished or rolled back, as compute's are.
        routers.recovered_at_start = routers.recover() if self.recovers else []
        return routers

    @cached_property
    def floating_ips(self) -> FloatingIPService:
        fips = FloatingIPService(self.ctx, self.network, self.routers)
        fips.recovered_at_start = fips.recover() if self.recovers else []
        return fips

    @cached_property
    def volumes(self) -> VolumeService:
        volumes = VolumeService(
            self.ctx, self.host.volume_backend, self.images.store_dir, self.host.volume_exporter
        )
        # Interrupted volume operations are finished or rolled back, as compute's are; then
        # the NBD exports of attached volumes run again, and no other.
        volumes.recovered_at_start = volumes.recover() if self.recovers else []
        if self.recovers:
            volumes.reconcile_exports()
        return volumes

    @cached_property
    def compute(self) -> ComputeService:
        # The network part comes first: NICs before volumes and the seed (which needs MACs).
        # Placement first: the scheduler picks the node before anything is plugged.
        compute = ComputeService(
            self.ctx, self.images.store_dir, [self.placement, self.network.server_part]
        )
        compute.node_down_listeners.append(self.nodes.mark_down)
        # Security groups bind the new ports; on delete, floating IPs are let go first.
        sg_part = self.security_groups.server_part
        sg_part.on_release.append(self.floating_ips.release_server)
        compute.parts.append(sg_part)
        # Volumes next: the boot volume (root disk, vda) and attached data volumes.
        compute.parts.append(self.volumes.part)
        # The cloud-init seed comes after the NICs: its network-config names their MACs.
        compute.parts.append(SeedPart(self.ctx, compute.instance_dir, self._nic_macs))
        # The next start after a crash finishes or rolls back what was interrupted.
        compute.recovered_at_start = compute.recover() if self.recovers else []
        return compute

    @cached_property
    def stacks(self) -> StackService:
        # Stacks reach every other service through the lab, by name.
        return StackService(self.ctx, self)

    @cached_property
    def doctor(self) -> DoctorService:
        doctor = DoctorService(self.ctx, self.compute)
        doctor.checks.append(self.network.doctor_check)
        # After the network's (bridges first): router namespaces and labcloud's nft tables.
        doctor.checks += [self.routers.doctor_check, self.security_groups.doctor_check]
        doctor.checks.append(self._recovered_network_operations)
        doctor.checks.append(self._recovered_migrations)
        return doctor

    def _recovered_migrations(self, repair: bool) -> list[Finding]:
        """Interrupted migrations and evacuations, settled when migration first runs."""
        return [
            Finding(
                "interrupted-operation",
                r.server,
                f"{r.operation} interrupted at step {r.step}: {r.outcome}",
                True,
            )
            for r in self.migration.recovered_at_start
        ]

    def _recovered_network_operations(self, repair: bool) -> list[Finding]:
        """What this process's start finished or rolled back, as compute's is reported."""
        done = [
            *self.network.recovered_at_start,
            *self.routers.recovered_at_start,
            *self.floating_ips.recovered_at_start,
        ]
        return [
            Finding("interrupted-operation", name, f"{kind}: {outcome}", True)
            for kind, name, outcome in done
        ]

    def recover_all(self) -> None:
        """Finish or roll back whatever a killed process left, in every service now,
        rather than in each when first used (`labcloud serve` does this at its start)."""
        for service in ("images", "network", "routers", "floating_ips", "volumes", "compute"):
            getattr(self, service)
        self.migration  # noqa: B018 - built for its recovery

    def init(self) -> dict[str, int]:
        """Create the state and seed it from lab.toml. Safe to run again."""
        return {
            "projects_created": self.identity.seed(self.config.projects),
            "users_changed": self.identity.seed_users(self.config.users),
            "flavors_changed": self.flavors.seed(self.config.flavors),
            "nodes_enrolled": self.nodes.seed(self.config.nodes),
        }
