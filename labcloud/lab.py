"""The composition root: one Lab per process wires the config, the store, the backends
and the services. Screens and the CLI get services from here and nothing else.

Backends are imported lazily, so a command that needs no libvirt never loads it.
"""

from __future__ import annotations

import os
from functools import cached_property

from labcloud.config import LabConfig, load_config
from labcloud.db.store import Store
from labcloud.services.compute import ComputeService
from labcloud.services.context import ServiceContext
from labcloud.services.doctor import DoctorService
from labcloud.services.flavors import FlavorService
from labcloud.services.identity import IdentityService
from labcloud.services.images import ImageService
from labcloud.services.interfaces import Hypervisor, NodeAgent


class Lab:
    def __init__(self, config: LabConfig, project: str | None = None) -> None:
        self.config = config
        self.project_name = (
            project or os.environ.get("LABCLOUD_PROJECT") or config.site.default_project
        )

    @classmethod
    def open(cls, lab_file: str | None = None, project: str | None = None) -> Lab:
        return cls(load_config(lab_file), project)

    @cached_property
    def store(self) -> Store:
        return Store(self.config.site.state_dir)

    def _hypervisor(self) -> Hypervisor:
        from labcloud.backends.libvirt_host import Host

        return Host(self.config.site.libvirt_uri)  # type: ignore[return-value]

    def _agent(self) -> NodeAgent:
        from labcloud.backends.host_agent import LocalAgent

        return LocalAgent(self.config.site.state_dir)

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
            self.project_name,
            self._hypervisor,
            self._agent,
            self._domain_builder,
            self._device_builder,
        )

    @cached_property
    def identity(self) -> IdentityService:
        return IdentityService(self.ctx)

    @cached_property
    def flavors(self) -> FlavorService:
        return FlavorService(self.ctx)

    @cached_property
    def images(self) -> ImageService:
        return ImageService(self.ctx)

    @cached_property
    def compute(self) -> ComputeService:
        compute = ComputeService(self.ctx, self.images.store_dir)
        # The next start after a crash finishes or rolls back what was interrupted.
        compute.recovered_at_start = compute.recover()
        return compute

    @cached_property
    def doctor(self) -> DoctorService:
        return DoctorService(self.ctx, self.compute)

    def init(self) -> dict[str, int]:
        """Create the state and seed it from lab.toml. Safe to run again."""
        return {
            "projects_created": self.identity.seed(self.config.projects),
            "flavors_changed": self.flavors.seed(self.config.flavors),
        }
