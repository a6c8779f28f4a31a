"""What the node service needs from the SSH backend (backends/ssh_nodes.py).

A node is passed as plain data: {"name", "host", "port", "user", "key_file", "libvirt_uri"}.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from labcloud.services.core import Hypervisor, NodeAgent

NodeSpec = dict[str, object]


class RemoteNodeAgent(NodeAgent, Protocol):
    """The host agent on a node that does not share the state_dir, plus file transfer."""

    def copy_file(
        self,
        src: str,
        dest: str,
        sha256: str,
        progress: Callable[[int, int], None] | None = None,
    ) -> bool: ...

    def apply_filter(self, spec: dict[str, object]) -> None: ...  # security groups there
    def set_link_up(self, name: str, up: bool) -> None: ...  # a port's tap there


class NodeTransport(Protocol):
    def host_key(self, name: str, host: str, port: int) -> dict[str, str]: ...
    def pin(self, name: str, host: str, port: int, expected: str) -> None: ...
    def unpin(self, host: str, port: int) -> None: ...
    def probe(self, node: NodeSpec, request: dict[str, object]) -> dict[str, object]: ...
    def hypervisor(self, node: NodeSpec) -> Hypervisor: ...
    def forget(self, name: str) -> None: ...
    def agent(self, node: NodeSpec, state_dir: str) -> RemoteNodeAgent: ...
    def ensure_l2(self, node: NodeSpec, specs: list[dict[str, object]]) -> None: ...
    def remove_l2(self, node: NodeSpec, specs: list[dict[str, object]]) -> None: ...
    def migrate(
        self,
        src: Hypervisor,
        dst: Hypervisor,
        uuid: str,
        dest_address: str,
        live: bool,
        copy_disks: list[str] | None = None,
    ) -> None: ...
    # A file to the same path on another node (None: the control's own filesystem),
    # sha256-verified where it lands. Returns the bytes copied.
    def copy_file(
        self,
        src: NodeSpec | None,
        dst: NodeSpec | None,
        path: str,
        size: int,
        sha256: str,
        progress: Callable[[int, int], None] | None = None,
    ) -> int: ...


# The local node's probe: the same code, run in-process.
LocalProbe = Callable[[dict[str, object]], dict[str, object]]
