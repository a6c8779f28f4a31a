"""Keypairs (Nova): SSH public keys that belong to a user, given to servers at boot.

The user is the caller (access.py): the unix user running labcloud, or SUDO_USER under
sudo. A generated key is ed25519; its private half
is returned once and never stored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from labcloud.db.models import Keypair
from labcloud.errors import Conflict, NotFound, UsageError
from labcloud.names import check_name, is_uuid, new_uuid
from labcloud.services.core import ServiceContext, record_event

# What OpenSSH and cloud-init accept in authorized_keys, and cryptography can parse.
KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
)
MIN_RSA_BITS = 2048
MAX_KEY_TEXT = 16 * 1024


def fingerprint(public_key: str) -> str:
    """Nova's fingerprint: MD5 of the key blob, as colon-separated hex pairs."""
    blob = base64.b64decode(public_key.split()[1])
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def normalize_public_key(text: str) -> str:
    """One OpenSSH public key line ("type base64 [comment]"), checked; else a UsageError."""
    if "PRIVATE KEY" in text:
        raise UsageError("this is a private key", "give the public key (the .pub file)")
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if len(lines) != 1:
        raise UsageError("a public key file must hold exactly one key, on one line")
    line = lines[0]
    if len(line) > MAX_KEY_TEXT:
        raise UsageError("this is not an OpenSSH public key: it is too long")
    parts = line.split(None, 2)
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        raise UsageError(
            "not an OpenSSH public key", f"expected one of {', '.join(KEY_TYPES)} then base64"
        )
    try:
        blob = base64.b64decode(parts[1], validate=True)
        key = serialization.load_ssh_public_key(f"{parts[0]} {parts[1]}".encode())
    except (ValueError, binascii.Error, TypeError) as exc:
        raise UsageError(f"invalid {parts[0]} public key: {str(exc)[:120]}") from None
    if not blob.startswith(len(parts[0]).to_bytes(4, "big") + parts[0].encode()):
        raise UsageError(f"the key data is not of type {parts[0]}")
    bits = getattr(key, "key_size", None)
    if parts[0] == "ssh-rsa" and bits is not None and bits < MIN_RSA_BITS:
        raise UsageError(f"an RSA key of {bits} bits is too weak", f"use >= {MIN_RSA_BITS}")
    comment = parts[2] if len(parts) > 2 else ""
    if any(ord(c) < 32 for c in comment):
        raise UsageError("the key's comment has control characters")
    return " ".join(p for p in (parts[0], parts[1], comment) if p)


@dataclass(frozen=True)
class Generated:
    keypair: Keypair
    private_key: str  # OpenSSH format; shown once


class KeypairService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    @property
    def user_name(self) -> str:
        self.ctx.access.check_known()
        return self.ctx.caller.name

    def list(self) -> list[Keypair]:
        with self.ctx.store.read() as s:
            query = select(Keypair).where(Keypair.user_name == self.user_name)
            return list(s.exec(query.order_by(Keypair.name)))

    def get(self, ref: str) -> Keypair:
        with self.ctx.store.read() as s:
            return self._find(s, ref)

    def _find(self, s: Session, ref: str) -> Keypair:
        key = Keypair.id if is_uuid(ref) else Keypair.name
        row = s.exec(select(Keypair).where(key == ref, Keypair.user_name == self.user_name)).first()
        if row is None:
            raise NotFound(
                f"no keypair named {ref!r} for user {self.user_name}",
                "`labcloud keypair list` shows yours",
            )
        return row

    def create(self, name: str, public_key: str | None = None) -> Generated:
        """Import public_key, or generate an ed25519 key and return its private half."""
        check_name(name, "keypair name")
        private = ""
        if public_key is None:
            key = ed25519.Ed25519PrivateKey.generate()
            private = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.OpenSSH,
                serialization.NoEncryption(),
            ).decode()
            raw = key.public_key().public_bytes(
                serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
            )
            public_key = f"{raw.decode()} {name}"
        else:
            public_key = normalize_public_key(public_key)
        row = Keypair(
            id=new_uuid(),
            name=name,
            user_name=self.user_name,
            fingerprint=fingerprint(public_key),
            public_key=public_key,
        )
        try:
            with self.ctx.store.write() as s:
                s.add(row)
                record_event(s, "keypair", row.id, name, f"created for {row.user_name}")
                s.flush()
                s.refresh(row)
                s.expunge(row)
        except IntegrityError:
            raise Conflict(
                f"a keypair named {name!r} already exists for user {self.user_name}",
                "pick another name or delete it first",
            ) from None
        return Generated(row, private)

    def delete(self, ref: str) -> Keypair:
        with self.ctx.store.write() as s:
            row = self._find(s, ref)
            s.delete(row)
            record_event(s, "keypair", row.id, row.name, "deleted")
        return row
