"""Keypairs, their fingerprints, and the JSON files that hold them."""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from nacl.public import PrivateKey, PublicKey
from nacl.signing import SigningKey, VerifyKey
from pydantic import BaseModel, ConfigDict, ValidationError

PRIVATE_FORMAT = "ctt-hub-private-keys/1"
PUBLIC_FORMAT = "ctt-hub-public-keys/1"


class KeyFileError(Exception):
    """A key file is missing, unreadable, or not in the expected format."""


def fingerprint(algorithm: Literal["x25519", "ed25519"], public_key: bytes) -> str:
    """The key id of a raw public key: its algorithm and the first 128 bits of its SHA-256."""
    return f"{algorithm}:{hashlib.sha256(public_key).hexdigest()[:32]}"


@dataclass(frozen=True)
class PublicKeySet:
    """The public halves: what a recipient registers at the hub, or the hub publishes."""

    sealing: PublicKey | None
    signing: VerifyKey

    @property
    def sealing_key_id(self) -> str:
        if self.sealing is None:
            raise KeyFileError("this key set has no sealing key")
        return fingerprint("x25519", bytes(self.sealing))

    @property
    def signing_key_id(self) -> str:
        return fingerprint("ed25519", bytes(self.signing))


@dataclass(frozen=True)
class KeySet:
    """A private key set: an optional X25519 sealing keypair and an Ed25519 signing keypair."""

    sealing: PrivateKey | None
    signing: SigningKey

    @property
    def public(self) -> PublicKeySet:
        sealing = self.sealing.public_key if self.sealing is not None else None
        return PublicKeySet(sealing=sealing, signing=self.signing.verify_key)


def generate_keyset(*, sealing: bool = True) -> KeySet:
    """Make fresh keys; the hub's own set has no sealing key (`sealing=False`)."""
    return KeySet(
        sealing=PrivateKey.generate() if sealing else None,
        signing=SigningKey.generate(),
    )


class _KeyEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key_id: str
    public_key: str
    private_key: str | None = None


class _KeyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: str
    name: str
    sealing: _KeyEntry | None = None
    signing: _KeyEntry


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _entry(key_id: str, public: bytes, private: bytes | None) -> _KeyEntry:
    return _KeyEntry(
        key_id=key_id,
        public_key=_b64(public),
        private_key=_b64(private) if private is not None else None,
    )


def write_keyset(keys: KeySet, path: Path, *, name: str) -> None:
    """Write a private key file readable by its owner only (mode 0600); refuse to overwrite one."""
    public = keys.public
    document = _KeyFile(
        format=PRIVATE_FORMAT,
        name=name,
        sealing=_entry(public.sealing_key_id, bytes(public.sealing), bytes(keys.sealing))
        if keys.sealing is not None and public.sealing is not None
        else None,
        signing=_entry(public.signing_key_id, bytes(public.signing), bytes(keys.signing)),
    )
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # a private key's folder
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(document.model_dump_json(indent=2, exclude_none=True) + "\n")


def write_public_keyset(public: PublicKeySet, path: Path, *, name: str) -> None:
    """Write the public halves, the file a recipient hands to the hub to register."""
    document = _KeyFile(
        format=PUBLIC_FORMAT,
        name=name,
        sealing=_entry(public.sealing_key_id, bytes(public.sealing), None)
        if public.sealing is not None
        else None,
        signing=_entry(public.signing_key_id, bytes(public.signing), None),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document.model_dump_json(indent=2, exclude_none=True) + "\n", encoding="utf-8")


def _read(path: Path, expected_format: str) -> _KeyFile:
    try:
        document = _KeyFile.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        raise KeyFileError(f"{path}: not a readable key file") from exc
    if document.format != expected_format:
        raise KeyFileError(f"{path}: expected format {expected_format}, found {document.format}")
    return document


def _checked_public(entry: _KeyEntry, algorithm: Literal["x25519", "ed25519"]) -> bytes:
    raw = _unb64(entry.public_key)
    if fingerprint(algorithm, raw) != entry.key_id:
        raise KeyFileError(f"key id {entry.key_id} does not match its public key")
    return raw


def load_keyset(path: Path) -> KeySet:
    """Read a private key file and check that each key matches its recorded key id.

    Raises KeyFileError if the file is unreadable or inconsistent.
    """
    document = _read(path, PRIVATE_FORMAT)
    try:
        sealing = None
        if document.sealing is not None and document.sealing.private_key is not None:
            sealing = PrivateKey(_unb64(document.sealing.private_key))
            if bytes(sealing.public_key) != _checked_public(document.sealing, "x25519"):
                raise KeyFileError(f"{path}: sealing private key does not match its public key")
        if document.signing.private_key is None:
            raise KeyFileError(f"{path}: no signing private key")
        signing = SigningKey(_unb64(document.signing.private_key))
        if bytes(signing.verify_key) != _checked_public(document.signing, "ed25519"):
            raise KeyFileError(f"{path}: signing private key does not match its public key")
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: malformed key material") from exc
    return KeySet(sealing=sealing, signing=signing)


def load_public_keyset(path: Path) -> PublicKeySet:
    """Read a public key file. Raises KeyFileError if it is unreadable or inconsistent."""
    document = _read(path, PUBLIC_FORMAT)
    try:
        sealing = (
            PublicKey(_checked_public(document.sealing, "x25519"))
            if document.sealing is not None
            else None
        )
        signing = VerifyKey(_checked_public(document.signing, "ed25519"))
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: malformed key material") from exc
    return PublicKeySet(sealing=sealing, signing=signing)
