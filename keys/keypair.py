"""Keypairs, their fingerprints, and the files that hold them.

A private key file is PEM: a few `#` lines naming the keys by id, then one PKCS#8 block per key
(the X25519 sealing key first, then the Ed25519 signing key), each encrypted with a passphrase
(PBES2: PBKDF2-HMAC-SHA256 and AES-256-CBC, what `cryptography` offers for PKCS#8). OpenSSL and any
binding read each block (`openssl pkey -passin file:...`). The older JSON format (`ctt-hub-private-
keys/1`, plain base64) still loads, with a warning; `connector keys protect` converts it. Public key
files stay JSON: raw keys in base64 beside their key ids, the form registration and the hub read.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from nacl.public import PrivateKey, PublicKey
from nacl.signing import SigningKey, VerifyKey
from pydantic import BaseModel, ConfigDict, ValidationError

PRIVATE_FORMAT = "ctt-hub-private-keys/1"
PEM_FORMAT = "ctt-hub-private-keys/2"

_log = structlog.get_logger(__name__)
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


def _public_entry(key_id: str, public: bytes) -> _KeyEntry:
    """A public key file's entry: private keys are written only as encrypted PKCS#8."""
    return _KeyEntry(key_id=key_id, public_key=_b64(public))


def _pkcs8(key: X25519PrivateKey | Ed25519PrivateKey, passphrase: bytes) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    ).decode("ascii")


def keyset_pem(keys: KeySet, *, name: str, passphrase: bytes) -> bytes:
    """The private key file's bytes: key ids as `#` lines, then one encrypted PKCS#8 block per key.

    Raises KeyFileError for an empty passphrase.
    """
    if not passphrase:
        raise KeyFileError("an empty passphrase protects nothing")
    public = keys.public
    lines = [f"# {PEM_FORMAT} name={name}"]
    blocks = []
    if keys.sealing is not None:
        lines.append(f"# sealing {public.sealing_key_id}")
        sealing = X25519PrivateKey.from_private_bytes(bytes(keys.sealing))
        blocks.append(_pkcs8(sealing, passphrase))
    lines.append(f"# signing {public.signing_key_id}")
    # PyNaCl's signing key bytes are the Ed25519 seed, which is the raw private key of RFC 8410.
    blocks.append(_pkcs8(Ed25519PrivateKey.from_private_bytes(bytes(keys.signing)), passphrase))
    return ("\n".join(lines) + "\n" + "".join(blocks)).encode("ascii")


def write_keyset(keys: KeySet, path: Path, *, name: str, passphrase: bytes) -> None:
    """Write an encrypted private key file readable by its owner only (mode 0600).

    Raises FileExistsError rather than overwrite one, KeyFileError for an empty passphrase.
    """
    data = keyset_pem(keys, name=name, passphrase=passphrase)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # a private key's folder
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def write_public_keyset(public: PublicKeySet, path: Path, *, name: str) -> None:
    """Write the public halves, the file a recipient hands to the hub to register."""
    document = _KeyFile(
        format=PUBLIC_FORMAT,
        name=name,
        sealing=_public_entry(public.sealing_key_id, bytes(public.sealing))
        if public.sealing is not None
        else None,
        signing=_public_entry(public.signing_key_id, bytes(public.signing)),
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


_PEM_BLOCK = re.compile(
    rb"-----BEGIN ENCRYPTED PRIVATE KEY-----\r?\n.*?-----END ENCRYPTED PRIVATE KEY-----", re.DOTALL
)
_RECORDED_ID = re.compile(rb"^# (sealing|signing) (\S+)$", re.MULTILINE)


def is_legacy_keyset(path: Path) -> bool:
    """Whether a private key file is in the old plain JSON format. Raises KeyFileError."""
    try:
        return path.read_bytes().lstrip().startswith(b"{")
    except OSError as exc:
        raise KeyFileError(f"{path}: not a readable key file") from exc


def load_keyset(path: Path, passphrase: bytes | None = None) -> KeySet:
    """Read a private key file and check that each key matches its recorded key id.

    Raises KeyFileError if the file is unreadable or inconsistent, or the passphrase is missing
    or wrong.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: not a readable key file") from exc
    if data.lstrip().startswith(b"{"):
        keys = _load_legacy(path)
        _log.warning("key_file_unprotected", path=str(path), fix="connector keys protect")
        return keys
    if passphrase is None:
        raise KeyFileError(
            f"{path}: the keys are encrypted and no passphrase was given "
            "(passphrase_file or passphrase_credential)"
        )
    return _load_pem(path, data, passphrase)


def _load_pem(path: Path, data: bytes, passphrase: bytes) -> KeySet:
    sealing: PrivateKey | None = None
    signing: SigningKey | None = None
    for block in _PEM_BLOCK.findall(data):
        try:
            key = serialization.load_pem_private_key(block, password=passphrase)
        except (ValueError, TypeError) as exc:
            raise KeyFileError(f"{path}: wrong passphrase or damaged key file") from exc
        raw = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        if isinstance(key, X25519PrivateKey) and sealing is None:
            sealing = PrivateKey(raw)
        elif isinstance(key, Ed25519PrivateKey) and signing is None:
            signing = SigningKey(raw)
        else:
            raise KeyFileError(f"{path}: an unexpected or repeated key")
    if signing is None:
        raise KeyFileError(f"{path}: no signing private key")
    keys = KeySet(sealing=sealing, signing=signing)
    recorded = {kind.decode(): key_id.decode() for kind, key_id in _RECORDED_ID.findall(data)}
    actual = {"signing": keys.public.signing_key_id}
    if sealing is not None:
        actual["sealing"] = keys.public.sealing_key_id
    if recorded != actual:
        raise KeyFileError(f"{path}: the recorded key ids do not match the keys")
    return keys


def _load_legacy(path: Path) -> KeySet:
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
