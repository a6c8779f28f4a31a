"""Warm SQLAlchemy's compiled-statement cache before the fork server forks.

The fork server (labcloud/cli/forkserver.py) calls warm() once. It opens a throw-away
lab in a temporary directory, with stand-ins for libvirt and the node that do nothing,
and runs the commands that matter most through the real services: a server create,
list, show and delete, image and flavor look-ups. Their statements get compiled on the
way; the engine, with that cache, is kept as the spare that the first Store of every
forked command adopts (labcloud/db/engines.py). Nothing of the throw-away lab outlives
warm(): its directory is removed and its connections are closed.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from labcloud.config import LabConfig, SiteConfig
from labcloud.db.engines import keep_spare
from labcloud.db.models import Image
from labcloud.errors import LabError
from labcloud.host_side import SystemHost
from labcloud.lab import Lab
from labcloud.services.core import (
    Hypervisor,
    L3Agent,
    NetworkAgent,
    NodeAgent,
    VolumeBackend,
    VolumeExporter,
)
from labcloud.services.nodes import NodeTransport


@dataclass
class _State:
    uuid: str
    state: str = "running"
    saved: bool = False


class _Idle:
    """Stands in for libvirt and the node: every call does nothing; domains 'run'."""

    def __init__(self) -> None:
        self.running: set[str] = set()

    def virt_type(self, requested: str) -> str:
        return "qemu"

    def start(self, uuid: str) -> None:
        self.running.add(uuid)

    def domain_states(self) -> dict[str, _State]:
        return {u: _State(u) for u in self.running}

    def state(self, uuid: str) -> _State | None:
        return _State(uuid) if uuid in self.running else None

    def __getattr__(self, name: str) -> object:
        return lambda *args, **kw: None


class _IdleHost(SystemHost):
    """Every backend of the throw-away lab is the one idle stand-in: nothing of the warm-up
    reaches libvirt, nftables, netlink, daemons or disks (it once loaded the security
    group tables into the fork server's namespace, through the real L3 agent)."""

    def __init__(self, config: LabConfig) -> None:
        super().__init__(config)
        self.idle = _Idle()

    def hypervisor(self) -> Hypervisor:
        return self.idle  # type: ignore[return-value]

    def agent(self) -> NodeAgent:
        return self.idle  # type: ignore[return-value]

    def network_agent(self) -> NetworkAgent:
        return self.idle  # type: ignore[return-value]

    def l3_agent(self) -> L3Agent:
        return self.idle  # type: ignore[return-value]

    def volume_backend(self, name: str) -> VolumeBackend:
        return self.idle  # type: ignore[return-value]

    def volume_exporter(self) -> VolumeExporter:
        return self.idle  # type: ignore[return-value]

    def node_transport(self) -> NodeTransport:
        return self.idle  # type: ignore[return-value]

    def local_probe(self, request: dict[str, object]) -> dict[str, object]:
        return {}


def warm() -> None:
    with tempfile.TemporaryDirectory(prefix="labcloud-warmup-") as tmp:
        config = LabConfig(site=SiteConfig(state_dir=Path(tmp)))
        lab = Lab(config, host=_IdleHost(config))
        try:
            lab.init()
            _image(lab)
            with contextlib.suppress(LabError):
                _commands(lab)
        finally:
            keep_spare(lab.store.engine)


def _image(lab: Lab) -> None:
    """A kernel, a ramdisk and a machine image, as `image create --builtin` records them."""
    project = lab.ctx.project.id
    rows = {
        name: Image(
            id=f"00000000-0000-4000-8000-00000000000{n}",
            name=name,
            status="active",
            project_id=project,
            disk_format=fmt,
            container_format=fmt,
            file_format="raw",
            checksum=str(n) * 64,
            visibility="public",
        )
        for n, (name, fmt) in enumerate((("k", "aki"), ("r", "ari"), ("warm", "ami")), 1)
    }
    rows["warm"].kernel_id, rows["warm"].ramdisk_id = rows["k"].id, rows["r"].id
    rows["warm"].properties = json.dumps({"os_command_line": "console=ttyS0"})
    with lab.store.write() as s:
        for row in rows.values():
            s.add(row)


def _commands(lab: Lab) -> None:
    flavor = lab.config.flavors[0].name
    lab.compute.create("warm", "warm", flavor)
    for ref in ("warm", "none"):
        with contextlib.suppress(LabError):
            lab.compute.get(ref)
            lab.images.get(ref)
            lab.flavors.get(ref)
    lab.compute.list()
    lab.images.list()
    lab.flavors.list()
    lab.network.server_addresses([s.id for s in lab.compute.list(sync=False)])
    lab.compute.delete("warm")
