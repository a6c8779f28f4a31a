"""keypair create|list|show|delete, and server ssh (which uses a keypair's key)"""

from __future__ import annotations

import os
import shlex
import sys
from typing import TYPE_CHECKING, Any

from labcloud.cli.each import each
from labcloud.cli.inputs import read_user_file
from labcloud.cli.output import Record, Table
from labcloud.cli.registry import arg, command
from labcloud.errors import UsageError

if TYPE_CHECKING:
    from labcloud.lab import Lab

COLUMNS = ("Name", "Fingerprint", "Type")


def record(k: Any) -> Record:
    return Record(
        {
            "name": k.name,
            "id": k.id,
            "user_name": k.user_name,
            "type": k.key_type,
            "fingerprint": k.fingerprint,
            "public_key": k.public_key,
            "created_at": k.created_at,
        }
    )


def _write_private(path: str, text: str) -> None:
    """0600 from the start, never over an existing file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise UsageError(f"--private-key {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


@command(
    "keypair",
    "create",
    help="Create an ed25519 keypair (its private key is printed once), or import a public key",
    example="labcloud keypair create mykey --private-key ~/.ssh/labcloud_mykey",
    args=(
        arg("name"),
        arg("--public-key", metavar="FILE", help="import this OpenSSH public key instead"),
        arg("--private-key", metavar="FILE", help="write the new private key here (0600)"),
    ),
)
def keypair_create(lab: Lab, a: Any) -> Record | str:
    if a.public_key and a.private_key:
        raise UsageError("--private-key goes with a generated key, not --public-key")
    public = None
    if a.public_key:
        data = read_user_file(a.public_key, "--public-key", limit=16 * 1024)
        try:
            public = data.decode("ascii")
        except UnicodeDecodeError:
            raise UsageError(f"--public-key {a.public_key}: not an OpenSSH public key") from None
    if a.private_key and os.path.exists(a.private_key):
        raise UsageError(f"--private-key {a.private_key}: already exists")
    made = lab.keypairs.create(a.name, public)
    if public is not None:
        return record(made.keypair)
    if a.private_key:
        _write_private(a.private_key, made.private_key)
        return record(made.keypair)
    return made.private_key.rstrip("\n")


@command("keypair", "list", help="List your keypairs", example="labcloud keypair list")
def keypair_list(lab: Lab, a: Any) -> Table:
    return Table(COLUMNS, [(k.name, k.fingerprint, k.key_type) for k in lab.keypairs.list()])


@command(
    "keypair",
    "show",
    help="Show one keypair (--public-key: only the public key)",
    example="labcloud keypair show mykey",
    args=(arg("keypair", help="name or ID"), arg("--public-key", action="store_true")),
)
def keypair_show(lab: Lab, a: Any) -> Record | str:
    key = lab.keypairs.get(a.keypair)
    return key.public_key if a.public_key else record(key)


@command(
    "keypair",
    "delete",
    help="Delete keypairs (servers that have the key keep it)",
    example="labcloud keypair delete mykey",
    args=(arg("keypair", nargs="+"),),
)
def keypair_delete(lab: Lab, a: Any) -> str:
    return each(a.keypair, lab.keypairs.delete)


@command(
    "server",
    "ssh",
    help="SSH into a server (a floating IP first, else its first fixed IP)",
    example="labcloud server ssh --identity ~/.ssh/labcloud_mykey web1 -- uptime",
    args=(
        arg("server", help="name or ID"),
        arg("--login", "-l", default="root", help="user to log in as (default root)"),
        arg("--identity", "-i", metavar="FILE", help="private key file"),
        arg("--port", "-p", type=int, help="SSH port (default 22)"),
        arg("--option", "-o", action="append", default=[], metavar="KEY=VALUE"),
        arg("--address", help="connect to this address instead"),
        arg("--print", action="store_true", help="print the ssh command instead of running it"),
        arg("remote", nargs="*", help="a command to run: options first, then SERVER -- COMMAND"),
    ),
)
def server_ssh(lab: Lab, a: Any) -> str:
    argv = lab.server_ssh.argv(
        a.server,
        login=a.login,
        address=a.address,
        port=a.port,
        identity=a.identity,
        options=tuple(a.option),
        command=tuple(a.remote),
    )
    if a.print:
        return shlex.join(argv)
    sys.stdout.flush()
    try:
        os.execvp(argv[0], argv)  # the terminal is ssh's from here on
    except OSError as exc:
        raise UsageError(f"cannot run ssh: {exc.strerror or exc}") from None
    return ""  # not reached
