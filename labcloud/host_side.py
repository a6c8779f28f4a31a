"""What the composition root (labcloud/lab.py) hands the services to touch this machine.

One object holds every factory that reaches the system, so a lab is built with exactly
one set of them and a stand-in replaces the whole set, never half of it:
- SystemHost: the real backends, imported lazily (a command that needs no libvirt
  never loads it).
- StateOnlyHost (`[site] host_agent = "none"` in lab.toml): the lab keeps its state,
  identity, flavors and plans, but a call that would load nftables, make interfaces,
  start daemons or probe the machine fails with one line. The unit tests use it.
- the fork server's warm-up has one whose calls do nothing (labcloud/warmup.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import ClassVar, NoReturn

from labcloud.config import LabConfig
from labcloud.errors import BackendError
from labcloud.services.core import (
    Hypervisor,
    L3Agent,
    NetworkAgent,
    NodeAgent,
    VolumeBackend,
    VolumeExporter,
)
from labcloud.services.nodes import NodeTransport


class SystemHost:
    """The real backends of this machine, as lab.toml configures them."""

    def __init__(self, config: LabConfig) -> None:
        self.config = config

    def hypervisor(self) -> Hypervisor:
        from labcloud.backends.libvirt_host import Host

        return Host(self.config.site.libvirt_uri)

    def agent(self) -> NodeAgent:
        from labcloud.backends.host_agent import LocalAgent

        return LocalAgent(self.config.site.state_dir)

    def network_agent(self) -> NetworkAgent:
        from labcloud.backends.network_agent import LocalNetworkAgent

        return LocalNetworkAgent(self.config.site.state_dir)

    def l3_agent(self) -> L3Agent:
        from labcloud.backends.l3_agent import LocalL3Agent

        return LocalL3Agent()

    def volume_backend(self, name: str) -> VolumeBackend:
        cfg = self.config.volume_backends[name]
        if cfg.type == "lvm":
            from labcloud.backends.volume_lvm import LvmVolumes

            assert cfg.vg is not None  # the config requires it
            return LvmVolumes(name, cfg.vg, cfg.thin_pool, cfg.loop_file, cfg.loop_size_gb)
        from labcloud.backends.volume_file import FileVolumes

        directory = cfg.path or self.config.site.state_dir / "volumes" / name
        return FileVolumes(name, directory, cfg.format or "qcow2")

    def volume_exporter(self) -> VolumeExporter:
        from labcloud.backends.nbd_exports import NbdExports

        return NbdExports(self.config.site.state_dir)

    def node_transport(self) -> NodeTransport:
        known_hosts = self.config.site.state_dir / "ssh" / "known_hosts"
        if os.environ.get("LABCLOUD_NO_BROKER"):  # the broker itself, or a user's choice
            from labcloud.backends.ssh_nodes import SshNodes

            return SshNodes(known_hosts)
        # Node states and probes come from the lab's long-lived broker (labcloud/broker.py).
        from labcloud.backends.brokered_nodes import BrokeredNodes

        sock = self.config.site.state_dir / "broker.sock"
        return BrokeredNodes(known_hosts, sock, self.config.source)

    def local_probe(self, request: dict[str, object]) -> dict[str, object]:
        from labcloud.backends.node_probe import probe

        return probe(request)


def _off(what: str) -> BackendError:
    return BackendError(
        f'cannot {what}: this lab drives no host side (lab.toml sets [site] host_agent = "none")',
        'set host_agent = "local" to use this machine',
    )


class _NothingHere:
    """A host side that was never there. Removing or listing what labcloud made on it
    finds nothing, so a rolled-back operation completes and nothing is left half-made;
    whatever would make, change or read something on this machine is refused."""

    _EMPTY: ClassVar[dict[str, object]] = {
        "links": {},
        "router_namespaces": [],
        "filter_tables": [],
        "filter_text": "",
        "owned": [],
        "names": [],
    }

    def __init__(self, what: str) -> None:
        self.what = what

    def __getattr__(self, name: str) -> Callable[..., object]:
        if name.startswith(("remove_", "delete", "stop")):
            return lambda *args, **kwargs: None
        if name in self._EMPTY:
            value = self._EMPTY[name]
            return lambda *args, **kwargs: value

        def refuse(*args: object, **kwargs: object) -> NoReturn:
            raise _off(self.what)

        return refuse


class StateOnlyHost(SystemHost):
    """A lab that never touches this machine. libvirt stays as `site.libvirt_uri` says
    (it may be another machine's); the rest is _NothingHere."""

    def agent(self) -> NodeAgent:
        return _NothingHere("use the host agent (files, disks, KVM probe)")  # type: ignore[return-value]

    def network_agent(self) -> NetworkAgent:
        return _NothingHere("make bridges, VXLAN or DHCP")  # type: ignore[return-value]

    def l3_agent(self) -> L3Agent:
        return _NothingHere("load nftables or make router namespaces")  # type: ignore[return-value]

    def volume_backend(self, name: str) -> VolumeBackend:
        return _NothingHere("make volumes")  # type: ignore[return-value]

    def volume_exporter(self) -> VolumeExporter:
        return _NothingHere("export volumes over NBD")  # type: ignore[return-value]

    def node_transport(self) -> NodeTransport:
        return _NothingHere("reach nodes over SSH")  # type: ignore[return-value]

    def local_probe(self, request: dict[str, object]) -> dict[str, object]:
        raise _off("probe this machine")


def host_for(config: LabConfig) -> SystemHost:
    """The host side lab.toml asks for."""
    return StateOnlyHost(config) if config.site.host_agent == "none" else SystemHost(config)
