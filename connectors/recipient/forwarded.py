"""A forwarded packet verified offline and opened: what its receiver can prove.

The receiver needs no network: the hub's key it pins, and its own sealing key. It checks the
hub's packet, the forwarder's signature with the key the hub vouches for, the hub's commitment,
and that each disclosed field opens its leaf. So the report it reads is the one the reporter
submitted and the hub acknowledged, minus exactly the fields named as withheld, plus the
forwarder's signed additions.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, SealedBox
from nacl.signing import VerifyKey
from pydantic import ValidationError

from hub.commitment import check_disclosure, verify_commitment
from hub.crypto import sealed_digest, verify_envelope
from hub.errors import PacketInvalid
from keys import fingerprint
from schemas.commitment import FORWARD_TYPE, CommitmentBody, ForwardBody, ForwardOpening
from schemas.envelope import PACKET_TYPE, Envelope, PacketBody

__all__ = ["OpenedForward", "is_forward", "open_forward"]


def is_forward(body: PacketBody) -> bool:
    """Whether a verified packet carries a forward rather than a copy from intake."""
    return body.forwarded


@dataclass(frozen=True)
class OpenedForward:
    """A verified forward as its receiver reads it: what is disclosed, withheld and added."""

    body: PacketBody
    sealed_sha256: str
    forward: ForwardBody
    commitment: CommitmentBody
    opening: ForwardOpening

    @property
    def fields(self) -> dict[str, Any]:
        """The disclosed fields by name (`reporter.<member>` for the reporter's)."""
        return {item.name: item.value for item in self.opening.disclosed}

    @property
    def forwarder_id(self) -> str:
        return self.forward.from_recipient_id


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PacketInvalid() from exc


def open_forward(
    envelope: Envelope,
    *,
    hub_keys: Mapping[str, VerifyKey],
    sealing: Mapping[str, PrivateKey],
    recipient_id: str,
) -> OpenedForward:
    """Verify a forwarded packet offline and open it.

    The steps: 1. the hub's signature on the packet, addressed to us; 2. the forwarder's
    signature, with the key the hub states in the packet; 3. the forward names this packet's
    report, recipient, key and sealed bytes; 4. the hub's signature on the commitment, to the same
    report; 5. open the sealed opening with our key; 6. each disclosed field opens its leaf, each
    other leaf is named withheld, and contact details come only with the reporter's consent.
    Raises PacketInvalid saying which step failed, never more.
    """
    # 1.
    try:
        body = PacketBody.model_validate_json(verify_envelope(envelope, PACKET_TYPE, hub_keys))
    except (PacketInvalid, ValidationError) as exc:
        raise PacketInvalid("not a packet signed by a hub key this connector trusts") from exc
    if body.recipient_id != recipient_id or body.forward is None or body.forwarder_key is None:
        raise PacketInvalid("not a forward addressed to this recipient")
    # 2.
    stated = body.forwarder_key
    raw = _unb64(stated.public_key)
    if fingerprint("ed25519", raw) != stated.key_id:
        raise PacketInvalid("the forwarder's key does not match its key id")
    try:
        payload = verify_envelope(body.forward, FORWARD_TYPE, {stated.key_id: VerifyKey(raw)})
        forward = ForwardBody.model_validate_json(payload)
    except (PacketInvalid, ValidationError, ValueError) as exc:
        raise PacketInvalid("the forward is not signed by the forwarder") from exc
    # 3.
    sealed = _unb64(body.sealed)
    if (
        forward.from_recipient_id != stated.recipient_id
        or forward.report_id != body.report_id
        or forward.to_recipient_id != body.recipient_id
        or forward.to_key_id != body.recipient_key_id
        or forward.sealed_sha256 != sealed_digest(sealed)
    ):
        raise PacketInvalid("the forward does not match the packet that carries it")
    # 4.
    try:
        commitment = verify_commitment(forward.commitment, hub_keys)
    except PacketInvalid as exc:
        raise PacketInvalid("the commitment is not the hub's") from exc
    if commitment.report_id != forward.report_id:
        raise PacketInvalid("the commitment is to another report")
    # 5.
    private = sealing.get(body.recipient_key_id)
    if private is None:
        raise PacketInvalid(f"sealed to sealing key {body.recipient_key_id}, which is not held")
    try:
        opening = ForwardOpening.model_validate_json(SealedBox(private).decrypt(sealed))
    except (CryptoError, ValidationError) as exc:
        raise PacketInvalid("the forward does not open with our key") from exc
    # 6.
    try:
        check_disclosure(commitment, opening)
    except PacketInvalid as exc:
        raise PacketInvalid("the forwarded report differs from what the hub acknowledged") from exc
    return OpenedForward(
        body=body,
        sealed_sha256=sealed_digest(sealed),
        forward=forward,
        commitment=commitment,
        opening=opening,
    )
