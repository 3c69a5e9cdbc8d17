"""Sealing, signing and verification of packets, receipts and acknowledgements.

All primitives come from libsodium through PyNaCl: sealed boxes (X25519 + XSalsa20-Poly1305) for
confidentiality to one recipient, Ed25519 for signatures. Envelopes follow DSSE: a signature
covers PAE(payloadType, payload), the payload's exact bytes; verification happens before parsing.
Every verification failure raises PacketInvalid, and never says which part failed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar
from uuid import UUID, uuid4

import rfc8785
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.signing import SigningKey, VerifyKey
from pydantic import BaseModel, ValidationError

from hub.errors import BodyInvalid, PacketInvalid
from hub.validation import field_errors
from keys import fingerprint as _fingerprint
from schemas.envelope import (
    ACKNOWLEDGEMENT_TYPE,
    PACKET_TYPE,
    RECEIPT_TYPE,
    AcknowledgementBody,
    Envelope,
    PacketBody,
    ReceiptBody,
    Signature,
)
from schemas.report import Report

# A key's id is a hash of its bytes: intake computed it for every packet and signature, and a
# hub knows a few hundred keys at most.
fingerprint = lru_cache(maxsize=1024)(_fingerprint)

_M = TypeVar("_M", bound=BaseModel)


def canonical_bytes(report: Report) -> bytes:
    """The bytes that are sealed: the validated report as RFC 8785 canonical JSON."""
    return canonical_json(report.model_dump(mode="json"))


_SAFE_INTEGER = 2**53 - 1


def _plain(document: Any) -> bool:
    """Whether `document` holds no floats, only ASCII keys and integers RFC 8785 can carry."""
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if not all(isinstance(key, str) and key.isascii() for key in node):
                return False
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, int) and not isinstance(node, bool):
            if abs(node) > _SAFE_INTEGER:
                return False
        elif not (node is None or isinstance(node, str | bool)):
            return False
    return True


def canonical_json(document: Any) -> bytes:
    """`document` as RFC 8785 canonical JSON.

    Without floats, with ASCII keys (every report, packet and audit entry), the standard
    library's sorted, compact output is RFC 8785 byte for byte (the same escapes, and code point
    order is UTF-16 order for ASCII keys), at a tenth of the cost of the rfc8785 package, which
    takes everything else. tests/hub/test_crypto.py holds the two to the same bytes.
    """
    if _plain(document):
        text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: rfc8785 refuses it with its own error
    return bytes(rfc8785.dumps(document))


def content_mac(key: bytes, canonical: bytes) -> str:
    """A keyed digest of a report's content, to detect a reused id without keeping a plain hash."""
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()


def fingerprint_x25519(key: PublicKey) -> str:
    """The key id of a sealing key."""
    return fingerprint("x25519", bytes(key))


def sealed_digest(sealed: bytes) -> str:
    """SHA-256 of the sealed bytes, in hex: what a receipt names."""
    return hashlib.sha256(sealed).hexdigest()


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what a signature actually covers."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PacketInvalid() from exc


def sign_envelope(payload_type: str, body: BaseModel, key: SigningKey) -> Envelope:
    """Serialise `body` once and sign those bytes."""
    payload = body.model_dump_json().encode("utf-8")
    signature = key.sign(pae(payload_type, payload)).signature
    return Envelope(
        payload=_b64(payload),
        payload_type=payload_type,
        signatures=[
            Signature(keyid=fingerprint("ed25519", bytes(key.verify_key)), sig=_b64(signature))
        ],
    )


def verify_envelope(
    envelope: Envelope, payload_type: str, trusted: Mapping[str, VerifyKey]
) -> bytes:
    """Return the payload bytes if one signature verifies with a trusted key.

    Raises PacketInvalid for a wrong type, bad encoding, unknown key or bad signature alike.
    """
    if envelope.payload_type != payload_type:
        raise PacketInvalid()
    payload = _unb64(envelope.payload)
    message = pae(payload_type, payload)
    for signature in envelope.signatures:
        key = trusted.get(signature.keyid)
        if key is None:
            continue
        try:
            key.verify(message, _unb64(signature.sig))
        except (CryptoError, ValueError):
            continue
        return payload
    raise PacketInvalid()


def _parse(model: type[_M], payload: bytes) -> _M:
    """Parse a verified payload. Raises BodyInvalid naming its faults, never quoting it."""
    try:
        return model.model_validate_json(payload)
    except ValidationError as exc:
        raise BodyInvalid(field_errors(exc.errors())) from exc


@dataclass(frozen=True)
class SealedPacket:
    """One report sealed for one recipient, signed by the hub, ready to store and send."""

    packet_id: UUID
    envelope: Envelope
    sealed_sha256: str


def seal_packet(
    *,
    report_id: UUID,
    canonical: bytes,
    recipient_id: str,
    recipient_key: PublicKey,
    hub_key: SigningKey,
    now: datetime,
    commitment: Envelope | None = None,
    salt: bytes | None = None,
) -> SealedPacket:
    """Seal the report to the recipient's key and sign the packet with the hub's key.

    With the report's signed `commitment` and its `salt`, the packet is version 2 and the salt
    is sealed to the same key beside the report.
    """
    box = SealedBox(recipient_key)
    sealed = box.encrypt(canonical)
    committed = commitment is not None and salt is not None
    body = PacketBody(
        packet_version=2 if committed else 1,
        packet_id=uuid4(),
        report_id=report_id,
        recipient_id=recipient_id,
        recipient_key_id=fingerprint_x25519(recipient_key),
        sealed_at=now,
        sealed=_b64(sealed),
        commitment=commitment if committed else None,
        sealed_salt=_b64(box.encrypt(salt)) if committed and salt is not None else None,
    )
    return SealedPacket(
        packet_id=body.packet_id,
        envelope=sign_envelope(PACKET_TYPE, body, hub_key),
        sealed_sha256=sealed_digest(sealed),
    )


@dataclass(frozen=True)
class OpenedPacket:
    """A verified packet and the report inside it, as only its recipient can see it."""

    body: PacketBody
    sealed_sha256: str
    report: Report
    salt: bytes | None = None  # version 2: opens the hub's commitment (hub/commitment.py)


def open_packet(
    envelope: Envelope, *, hub_keys: Mapping[str, VerifyKey], private: PrivateKey
) -> OpenedPacket:
    """Verify the hub's signature, then open the sealed report with the recipient's key.

    Raises PacketInvalid if the signature, the key or the content does not check out.
    """
    body = _parse(PacketBody, verify_envelope(envelope, PACKET_TYPE, hub_keys))
    if body.recipient_key_id != fingerprint_x25519(private.public_key) or body.forwarded:
        raise PacketInvalid()
    sealed = _unb64(body.sealed)
    try:
        plaintext = SealedBox(private).decrypt(sealed)
        salt = (
            None
            if body.sealed_salt is None
            else SealedBox(private).decrypt(_unb64(body.sealed_salt))
        )
    except CryptoError as exc:
        raise PacketInvalid() from exc
    try:
        report = Report.model_validate_json(plaintext)
    except ValidationError as exc:
        raise PacketInvalid() from exc
    if report.report_id != body.report_id:
        raise PacketInvalid()
    return OpenedPacket(body=body, sealed_sha256=sealed_digest(sealed), report=report, salt=salt)


def sign_receipt(
    *, packet: PacketBody, sealed_sha256: str, received_at: datetime, key: SigningKey
) -> Envelope:
    """A recipient's signed statement that it received `packet` intact."""
    body = ReceiptBody(
        packet_id=packet.packet_id,
        recipient_id=packet.recipient_id,
        sealed_sha256=sealed_sha256,
        received_at=received_at,
    )
    return sign_envelope(RECEIPT_TYPE, body, key)


def verify_receipt(envelope: Envelope, trusted: Mapping[str, VerifyKey]) -> ReceiptBody:
    """Verify a receipt's signature with the recipient's keys, then parse it.

    Raises PacketInvalid.
    """
    return _parse(ReceiptBody, verify_envelope(envelope, RECEIPT_TYPE, trusted))


def sign_acknowledgement(body: AcknowledgementBody, key: SigningKey) -> Envelope:
    """The hub's signed statement to a source that it accepted a report."""
    return sign_envelope(ACKNOWLEDGEMENT_TYPE, body, key)


def verify_acknowledgement(
    envelope: Envelope, trusted: Mapping[str, VerifyKey]
) -> AcknowledgementBody:
    """Verify and parse an acknowledgement. Raises PacketInvalid."""
    return _parse(AcknowledgementBody, verify_envelope(envelope, ACKNOWLEDGEMENT_TYPE, trusted))
