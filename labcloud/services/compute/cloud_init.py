"""The cloud-init NoCloud seed a server gets when it asks for a key or user-data.

`SeedPart` takes part in compute's create and delete (core/server_parts.py): it records what
the seed carries, writes the seed ISO into the instance directory and adds it to the
domain as a read-only CD-ROM. The file contents are composed here, as cloud-init reads
them: meta-data (instance-id, local-hostname), user-data (a #cloud-config with the key,
the user's own data, or a MIME multipart of both) and a version 2 network-config
matching each NIC by its MAC.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from email.charset import Charset
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

from sqlmodel import Session, select

from labcloud.db.models import Keypair, Server, ServerSeed
from labcloud.errors import NotFound, UsageError
from labcloud.services.core import CreateRequest, Devices, ServiceContext

SEED_FILE = "seed.iso"
# Nova's limit on user-data is 64 KiB once base64-encoded; this is the same size raw.
MAX_USER_DATA = 48 * 1024
# The seed CD-ROM's place: SATA, so it never takes an IDE slot an install ISO needs.
SEED_TARGET = {"target": "sda", "bus": "sata"}
# How cloud-init tells user-data parts apart: their first line.
_STARTS = (
    ("#!", "x-shellscript"),
    ("#cloud-config", "cloud-config"),
    ("#include", "x-include-url"),
    ("#cloud-boothook", "cloud-boothook"),
    ("#part-handler", "part-handler"),
    ("## template: jinja", "jinja2"),
)


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(text)


def meta_data(server_id: str, hostname: str) -> bytes:
    return f"instance-id: {server_id}\nlocal-hostname: {hostname}\n".encode()


def cloud_config(public_keys: list[str]) -> str:
    lines = ["#cloud-config", "ssh_authorized_keys:"]
    lines += [f"  - {_q(k)}" for k in public_keys]
    return "\n".join(lines) + "\n"


def part_type(data: bytes) -> str:
    """The MIME subtype cloud-init would give this user-data (text/plain if unknown)."""
    head = data.lstrip()[:32].decode("utf-8", "replace")
    for start, subtype in _STARTS:
        if head.startswith(start):
            return subtype
    return "plain"


def user_data(public_keys: list[str], own: bytes | None) -> bytes | None:
    """The user-data file: the key's cloud-config, the user's data, or a multipart of both."""
    if not public_keys:
        return own
    config = cloud_config(public_keys)
    if not own:
        return config.encode()
    if own.lstrip().lower().startswith(b"content-type:"):
        raise UsageError(
            "--user-data that is already MIME multipart cannot be combined with --key-name",
            "put the key in your multipart's cloud-config instead",
        )
    try:
        text = own.decode()
    except UnicodeDecodeError:
        raise UsageError("--user-data must be UTF-8 text to go with --key-name") from None
    # A boundary that cannot occur in the parts: derived from their own bytes.
    boundary = "==labcloud-" + hashlib.sha256(own + config.encode()).hexdigest()[:24] + "=="
    multipart = MIMEMultipart(boundary=boundary)
    for body, subtype in ((config, "cloud-config"), (text, part_type(own))):
        # typeshed allows only a str; email.mime takes a Charset too (its encoding is ours).
        multipart.attach(MIMEText(body, subtype, _charset=_plain_utf8()))  # type: ignore[arg-type]
    return multipart.as_bytes()


def _plain_utf8() -> Charset:
    # 8bit, not base64: cloud-init decodes either, and the tiny guest reads it as text.
    charset = Charset("utf-8")
    charset.body_encoding = None  # type: ignore[assignment]  # None: no encoding (8bit)
    return charset


def network_config(macs: list[str]) -> bytes | None:
    """Version 2: DHCP on every NIC, each matched by its MAC (names in the guest vary)."""
    if not macs:
        return None
    lines = ["version: 2", "ethernets:"]
    for i, mac in enumerate(macs):
        lines += [
            f"  nic{i}:",
            "    match:",
            f"      macaddress: {_q(mac.lower())}",
            "    dhcp4: true",
        ]
    return ("\n".join(lines) + "\n").encode()


def seed_files(
    server_id: str, hostname: str, public_keys: list[str], own: bytes | None, macs: list[str]
) -> dict[str, bytes]:
    files = {"meta-data": meta_data(server_id, hostname)}
    ud = user_data(public_keys, own)
    # cloud-init wants a user-data file even when empty.
    files["user-data"] = ud if ud is not None else b""
    net = network_config(macs)
    if net is not None:
        files["network-config"] = net
    return files


class SeedPart:
    """A ServerPart: the NoCloud seed of a server created with --key-name or --user-data."""

    claims = frozenset({"key_name", "user_data"})

    def __init__(
        self,
        ctx: ServiceContext,
        instance_dir: Callable[[str], Path],
        nic_macs: Callable[[Server], list[str]],
    ) -> None:
        self.ctx = ctx
        self.instance_dir = instance_dir
        self.nic_macs = nic_macs

    def _seed_path(self, server_id: str) -> Path:
        return self.instance_dir(server_id) / SEED_FILE

    def validate(self, s: Session, request: CreateRequest, server: Server) -> None:
        if request.user_data is not None and len(request.user_data) > MAX_USER_DATA:
            raise UsageError(f"--user-data is larger than {MAX_USER_DATA // 1024} KiB")
        if request.key_name:
            self._keypair(s, request.key_name)
        if request.user_data and request.key_name:
            user_data(["ssh-ed25519 AAAA"], request.user_data)  # refuses what cannot merge

    def _keypair(self, s: Session, name: str) -> Keypair:
        user = self.ctx.caller.name
        row = s.exec(select(Keypair).where(Keypair.name == name, Keypair.user_name == user)).first()
        if row is None:
            raise NotFound(
                f"no keypair named {name!r} for user {user}",
                "create one with `labcloud keypair create`",
            )
        return row

    def allocate(self, s: Session, request: CreateRequest, server: Server) -> None:
        if not (request.key_name or request.user_data):
            return
        key = self._keypair(s, request.key_name) if request.key_name else None
        s.add(
            ServerSeed(
                server_id=server.id,
                key_name=request.key_name,
                public_key=key.public_key if key else "",
                user_data=request.user_data or None,
            )
        )

    def provision(self, server: Server, request: CreateRequest) -> None:
        with self.ctx.store.read() as s:
            seed = s.get(ServerSeed, server.id)
        if seed is None:
            return
        files = seed_files(
            server.id,
            server.name,
            [seed.public_key] if seed.public_key else [],
            seed.user_data,
            self.nic_macs(server),
        )
        self.ctx.agent_for(server.node).write_seed(str(self._seed_path(server.id)), files)

    def devices(self, server: Server) -> Devices:
        with self.ctx.store.read() as s:
            seed = s.get(ServerSeed, server.id)
        if seed is None:
            return Devices()
        cdrom: dict[str, object] = {
            "path": str(self._seed_path(server.id)),
            "file_format": "raw",
            "device": "cdrom",
            "readonly": True,
            **SEED_TARGET,
        }
        return Devices(disks=[cdrom])

    def release(self, server_id: str) -> None:
        with self.ctx.store.write() as s:
            seed = s.get(ServerSeed, server_id)
            if seed is not None:
                s.delete(seed)
        self.ctx.agent_for(_node_of(self.ctx, server_id)).remove_file(
            str(self._seed_path(server_id))
        )


def _node_of(ctx: ServiceContext, server_id: str) -> str:
    """Where a server's seed lives: its node (remote nodes may not share the state_dir)."""
    with ctx.store.read() as s:
        row = s.get(Server, server_id)
    return row.node if row is not None else "local"
