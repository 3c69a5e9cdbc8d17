"""The hub's keys as an evidence bundle states them, checked from the pinned key: which keys are
trusted, when each may sign, and whether a hub-signed object was signed within that time
(docs/protocol.md, section 9.3, steps 1 and 2)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from nacl.signing import VerifyKey
from pydantic import BaseModel, ValidationError

from connectors.errors import EvidenceInvalid
from connectors.recipient.trust import extend_trust
from hub.crypto import verify_envelope
from hub.errors import PacketInvalid
from keys import fingerprint
from schemas.envelope import (
    AcknowledgementBody,
    Envelope,
    HubKeyEndorsement,
    PacketBody,
    PublishedHubKey,
    PublishedHubKeys,
    TreeHeadBody,
)
from schemas.evidence import EvidenceStatement

__all__ = ["HubKeyValidity", "hub_key_validity", "hub_signed", "instant", "published_key"]

_M = TypeVar("_M", bound=BaseModel)


@dataclass(frozen=True)
class HubKeyValidity:
    """A hub key trusted from the pinned one, and when it may sign: [valid_from, valid_until)."""

    key_id: str
    key: VerifyKey
    valid_from: datetime
    valid_until: datetime | None


# 1. The hub's keys


def published_key(entry: PublishedHubKey) -> VerifyKey:
    try:
        raw = base64.b64decode(entry.public_key, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EvidenceInvalid(f"hub key {entry.key_id}: its public key is not base64") from exc
    if fingerprint("ed25519", raw) != entry.key_id:
        raise EvidenceInvalid(f"hub key {entry.key_id}: its public key has another key id")
    return VerifyKey(raw)


def hub_key_validity(
    published: PublishedHubKeys, pinned: Mapping[str, VerifyKey]
) -> dict[str, HubKeyValidity]:
    """The pinned key and every key endorsed from it in a chain (the connector's rule, protocol
    section 8), each valid from its `valid_from` until the `valid_from` its successor's
    endorsement signs, or its own `valid_until` if earlier. The first key's start is as published.

    Raises EvidenceInvalid if the pinned key is not in the history or an endorsement's signed
    `valid_from` differs from the published one.
    """
    by_id = {entry.key_id: entry for entry in published.keys}
    anchors = [key_id for key_id in pinned if key_id in by_id]
    if not anchors:
        raise EvidenceInvalid(
            f"the pinned hub key {next(iter(pinned), '?')} is not in the bundle's key history"
        )
    trusted = extend_trust({key_id: pinned[key_id] for key_id in anchors}, published)
    ends: dict[str, datetime | None] = {key_id: by_id[key_id].valid_until for key_id in trusted}
    for key_id in trusted:
        entry = by_id[key_id]
        if key_id in anchors or entry.endorsement is None:
            continue
        # extend_trust verified it: read which key endorsed it, and the valid_from it signed.
        endorser = next(s.keyid for s in entry.endorsement.signatures if s.keyid in trusted)
        body = HubKeyEndorsement.model_validate_json(base64.b64decode(entry.endorsement.payload))
        if body.valid_from != entry.valid_from:
            raise EvidenceInvalid(
                f"hub key {key_id}: its published valid_from is not the one its endorsement signs"
            )
        end = ends.get(endorser)
        ends[endorser] = body.valid_from if end is None else min(end, body.valid_from)
    return {
        key_id: HubKeyValidity(
            key_id=key_id,
            key=published_key(by_id[key_id]) if key_id not in anchors else pinned[key_id],
            valid_from=by_id[key_id].valid_from,
            valid_until=ends[key_id],
        )
        for key_id in trusted
    }


# 2. Hub signatures, each within its key's validity


def instant(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def hub_signed(
    envelope: Envelope,
    payload_type: str,
    model: type[_M],
    keys: Mapping[str, HubKeyValidity],
    what: str,
) -> tuple[_M, HubKeyValidity]:
    """The body of a hub-signed envelope and the key that signed it, checked to sign within its
    validity at the body's own time. Raises EvidenceInvalid."""
    for signature in envelope.signatures:
        key = keys.get(signature.keyid)
        if key is None:
            continue
        try:
            payload = verify_envelope(envelope, payload_type, {key.key_id: key.key})
        except PacketInvalid:
            continue
        try:
            body = model.model_validate_json(payload)
        except ValidationError as exc:
            raise EvidenceInvalid(f"{what}: signed by the hub but not what it should be") from exc
        at = _signed_at(body)
        if at < key.valid_from or (key.valid_until is not None and at >= key.valid_until):
            until = "now" if key.valid_until is None else instant(key.valid_until)
            raise EvidenceInvalid(
                f"{what}: signed at {instant(at)} by hub key {key.key_id}, outside its validity "
                f"({instant(key.valid_from)} until {until})"
            )
        return body, key
    raise EvidenceInvalid(
        f"{what}: its signature does not verify with a hub key trusted from the pinned key "
        "(changed, or signed by another key)"
    )


def _signed_at(body: BaseModel) -> datetime:
    if isinstance(body, AcknowledgementBody):
        return body.accepted_at
    if isinstance(body, PacketBody):
        return body.sealed_at
    if isinstance(body, TreeHeadBody):
        return body.timestamp
    if isinstance(body, EvidenceStatement):
        return body.exported_at
    raise TypeError(type(body).__name__)
