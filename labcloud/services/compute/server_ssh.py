"""`server ssh`: the ssh command line that reaches a server, as an argv list.

Where to connect comes from a hook (lab.py: a floating IP first, else the first fixed
IP), so this knows nothing of networks. Host keys are remembered per server, not per
address, in labcloud's own known_hosts: addresses are reused by the next server, and a
reused address must not look like a man-in-the-middle, nor may a changed key of the
same server pass silently.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labcloud.db.models import Server
from labcloud.errors import Conflict, NotFound, UsageError

_LOGIN_OK = "abcdefghijklmnopqrstuvwxyz0123456789_-."


def ssh_argv(
    server_id: str,
    address: str,
    *,
    login: str,
    known_hosts: Path,
    port: int | None = None,
    identity: str | None = None,
    options: tuple[str, ...] = (),
    command: tuple[str, ...] = (),
) -> list[str]:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise UsageError(f"invalid address {address!r}") from None
    if not login or login[0] == "-" or any(c not in _LOGIN_OK for c in login.lower()):
        raise UsageError(f"invalid login {login!r}")
    argv = [
        "ssh",
        *("-o", f"UserKnownHostsFile={known_hosts}"),
        *("-o", f"HostKeyAlias=labcloud-{server_id}"),
        *("-o", "StrictHostKeyChecking=accept-new"),
        *("-l", login),
    ]
    if port is not None:
        if not 0 < port < 65536:
            raise UsageError(f"invalid port {port}")
        argv += ["-p", str(port)]
    if identity:
        argv += ["-i", identity]
    for option in options:
        if "=" not in option or option.startswith("-"):
            raise UsageError(f"--option {option!r}: expected KEY=VALUE")
        argv += ["-o", option]
    # "--" ends ssh's options: the host can never be read as one.
    return [*argv, "--", str(ip), *command]


class ServerSsh:
    def __init__(
        self, compute: Any, address_of: Callable[[Server], str | None], state_dir: Path
    ) -> None:
        self.compute = compute
        self.address_of = address_of
        self.known_hosts = state_dir / "ssh_known_hosts"

    def argv(
        self,
        ref: str,
        *,
        login: str = "root",
        address: str | None = None,
        port: int | None = None,
        identity: str | None = None,
        options: tuple[str, ...] = (),
        command: tuple[str, ...] = (),
    ) -> list[str]:
        server = self.compute.get(ref)
        if server.status != "ACTIVE":
            raise Conflict(f"server {server.name} is {server.status}, not ACTIVE")
        address = address or self.address_of(server)
        if not address:
            raise NotFound(
                f"server {server.name} has no address to reach",
                "give it a network (and a floating IP), or pass --address",
            )
        return ssh_argv(
            server.id,
            address,
            login=login,
            known_hosts=self.known_hosts,
            port=port,
            identity=identity,
            options=options,
            command=command,
        )
