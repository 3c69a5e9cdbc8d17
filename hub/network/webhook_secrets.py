"""Push recipients' webhook secrets, encrypted in the database with a key kept outside it.

The hub signs each push with the recipient's Standard Webhooks secret, so it must be able to read
the secret back; a copy of the database alone must not. Each secret is encrypted with AES-256-GCM
under the hub's webhook key (`webhook-secrets.key`, a protected file or systemd credential,
hub.keyring), bound to its recipient's id so a ciphertext moved to another row does not open:

    aesgcm1:<base64url(nonce (12 bytes) || ciphertext and tag)>

Rows written before this (plain `whsec_…`) are encrypted by `hub init` or `hub db protect-secrets`.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlmodel import Session, col, select

from hub.errors import ConfigurationError
from hub.store import RecipientRow

__all__ = ["KEY_BYTES", "decrypt_secret", "encrypt_secret", "is_encrypted", "protect_stored"]

KEY_BYTES = 32
_PREFIX = "aesgcm1:"
_NONCE_BYTES = 12
_CONTEXT = b"ctt-hub webhook secret\x00"


def _aad(recipient_id: str) -> bytes:
    return _CONTEXT + recipient_id.encode("utf-8")


def is_encrypted(stored: str) -> bool:
    """Whether a stored value is one this module encrypted (else a plaintext row from before)."""
    return stored.startswith(_PREFIX)


def encrypt_secret(key: bytes, recipient_id: str, secret: str) -> str:
    """The stored form of a recipient's webhook secret."""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, secret.encode("utf-8"), _aad(recipient_id))
    return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def decrypt_secret(key: bytes, recipient_id: str, stored: str) -> str:
    """The webhook secret of a stored value.

    Raises ConfigurationError if it does not open with this key for this recipient, or is a
    plaintext row not yet protected.
    """
    if not is_encrypted(stored):
        raise ConfigurationError(
            f"recipient {recipient_id}: webhook secret stored in plain: "
            "run 'hub db protect-secrets'"
        )
    try:
        raw = base64.urlsafe_b64decode(stored[len(_PREFIX) :].encode("ascii"))
        plain = AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _aad(recipient_id))
    except (binascii.Error, ValueError, InvalidTag) as exc:
        raise ConfigurationError(
            f"recipient {recipient_id}: webhook secret does not open with the hub's webhook key"
        ) from exc
    return plain.decode("utf-8")


def protect_stored(session: Session, key: bytes) -> int:
    """Encrypt every webhook secret still stored in plain; return how many. The caller commits."""
    rows = session.exec(select(RecipientRow).where(col(RecipientRow.webhook_secret).is_not(None)))
    count = 0
    for row in rows:
        if row.webhook_secret is None or is_encrypted(row.webhook_secret):
            continue
        row.webhook_secret = encrypt_secret(key, row.id, row.webhook_secret)
        session.add(row)
        count += 1
    return count
