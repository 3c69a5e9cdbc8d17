"""Wire formats of what the hub and its recipients sign: packets, receipts, acknowledgements.

Each travels as a DSSE envelope (the Dead Simple Signing Envelope that in-toto and Sigstore use):
the signed body is carried as base64 bytes, and the signature covers those exact bytes through
DSSE's pre-authentication encoding. A verifier checks the signature first and only then parses
the body, so nothing is ever re-serialised to check a signature. docs/protocol.md has the details.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

PACKET_TYPE = "application/vnd.ctt-hub.packet+json; version=1"
RECEIPT_TYPE = "application/vnd.ctt-hub.receipt+json; version=1"
ACKNOWLEDGEMENT_TYPE = "application/vnd.ctt-hub.acknowledgement+json; version=1"

KeyId = Annotated[
    str, Field(min_length=8, max_length=80, pattern=r"^(x25519|ed25519):[0-9a-f]{32}$")
]
RecipientId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]
Base64 = Annotated[str, Field(max_length=2_000_000, pattern=r"^[A-Za-z0-9+/]*={0,2}$")]
Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Signature(_Strict):
    """One signature over the envelope's pre-authentication encoding."""

    keyid: KeyId
    sig: Annotated[str, Field(max_length=200, pattern=r"^[A-Za-z0-9+/]*={0,2}$")]


class Envelope(BaseModel):
    """A DSSE envelope: base64 payload, its type, and signatures over both."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, serialize_by_alias=True
    )

    payload: Base64
    payload_type: str = Field(alias="payloadType", max_length=120)
    signatures: list[Signature] = Field(min_length=1, max_length=4)


class ForwarderKey(_Strict):
    """The hub's statement, inside a forwarded packet, of the forwarder's signing key."""

    recipient_id: RecipientId
    key_id: KeyId
    public_key: Base64


class PacketBody(_Strict):
    """What the hub signs for one recipient: the sealed report and where it belongs.

    Version 2 adds the report's commitment: a copy from intake carries the hub's signed
    commitment and, sealed to the same key, its salt; a forwarded copy carries the forwarder's
    signed forward and its key instead, and `sealed` is the forwarder's sealed opening.
    """

    packet_version: Literal[1, 2] = 1
    packet_id: UUID
    report_id: UUID
    recipient_id: RecipientId
    recipient_key_id: KeyId = Field(description="The X25519 key the report is sealed to.")
    sealed_at: AwareDatetime
    sealed: Base64 = Field(description="libsodium crypto_box_seal of the report's canonical bytes.")
    commitment: Envelope | None = Field(
        None, description="Version 2, from intake: the hub's signed commitment to the report."
    )
    sealed_salt: Base64 | None = Field(
        None, description="Version 2, from intake: crypto_box_seal of the commitment's salt."
    )
    forward: Envelope | None = Field(
        None, description="Version 2, forwarded: the forwarder's signed forward."
    )
    forwarder_key: ForwarderKey | None = Field(
        None, description="Version 2, forwarded: the forwarder's signing key, as the hub knows it."
    )

    @model_validator(mode="after")
    def _members_of_the_version(self) -> PacketBody:
        intake = self.commitment is not None and self.sealed_salt is not None
        forwarded = self.forward is not None and self.forwarder_key is not None
        extra = [self.commitment, self.sealed_salt, self.forward, self.forwarder_key]
        if self.packet_version == 1 and any(v is not None for v in extra):
            raise ValueError("a version 1 packet has no commitment or forward")
        if self.packet_version == 2 and intake == forwarded:
            raise ValueError("a version 2 packet is either from intake or forwarded")
        if self.packet_version == 2 and sum(v is not None for v in extra) != 2:
            raise ValueError("a version 2 packet is either from intake or forwarded")
        return self

    @property
    def forwarded(self) -> bool:
        """Whether this packet carries a forward rather than a report from intake."""
        return self.forward is not None


class ReceiptBody(_Strict):
    """What a recipient signs to say it received a packet intact."""

    receipt_version: Literal[1] = 1
    packet_id: UUID
    recipient_id: RecipientId
    sealed_sha256: Sha256Hex = Field(description="SHA-256 of the sealed bytes, in hex.")
    received_at: AwareDatetime


class RoutedRecipient(_Strict):
    """One recipient of a report and the routing rules that chose it."""

    recipient_id: RecipientId
    rules: list[str] = Field(min_length=1)


class InclusionPromise(_Strict):
    """The hub's promise, signed inside an acknowledgement, that an entry of its audit log will be
    covered by a signed tree head no later than `deadline` (docs/audit.md, "Promises")."""

    log: Literal["ctt-hub-audit"] = "ctt-hub-audit"
    leaf_index: int = Field(ge=0, description="The index of the report's `report_routed` entry.")
    leaf_hash: Sha256Hex = Field(description="That entry's RFC 6962 leaf hash, in hex.")
    deadline: AwareDatetime = Field(
        description="A tree head covering the entry is signed no later than this."
    )


class AcknowledgementBody(_Strict):
    """What the hub signs to tell a source it accepted a report.

    Version 2 adds the commitment's root; version 3 adds, beside it, a promise of inclusion in
    the audit log. A version 1 or 2 body has no `promise` member at all, so its bytes are as
    before and strict readers of those versions still accept it.
    """

    acknowledgement_version: Literal[1, 2, 3] = 1
    report_id: UUID
    source: str
    accepted_at: AwareDatetime
    recipients: list[RoutedRecipient]
    commitment_root: Sha256Hex | None = Field(
        None, description="Versions 2 and 3: the root of the hub's signed commitment to the report."
    )
    promise: InclusionPromise | None = Field(
        None,
        exclude_if=lambda value: value is None,
        description="Version 3: the signed promise of inclusion in the audit log.",
    )

    @model_validator(mode="after")
    def _members_of_the_version(self) -> AcknowledgementBody:
        if (self.acknowledgement_version >= 2) != (self.commitment_root is not None):
            raise ValueError(
                "acknowledgement versions 2 and 3, and only they, name a commitment root"
            )
        if (self.acknowledgement_version == 3) != (self.promise is not None):
            raise ValueError("a version 3 acknowledgement, and only it, carries a promise")
        return self


HUB_KEY_TYPE = "application/vnd.ctt-hub.hub-key+json; version=1"


class HubKeyEndorsement(_Strict):
    """What the hub's previous key signs to vouch for its next key."""

    endorsement_version: Literal[1] = 1
    key_id: KeyId
    public_key: Base64
    valid_from: AwareDatetime


class PublishedHubKey(_Strict):
    """A signing key of the hub as published: its validity, and the previous key's endorsement."""

    key_id: KeyId
    algorithm: Literal["ed25519"] = "ed25519"
    public_key: Base64
    valid_from: AwareDatetime
    valid_until: AwareDatetime | None = None
    endorsement: Envelope | None = Field(
        None, description="Signed by the key this one replaced; absent for the first key."
    )


class PublishedHubKeys(_Strict):
    """Every signing key the hub has used, oldest first."""

    keys: list[PublishedHubKey] = Field(max_length=1000)


TREE_HEAD_TYPE = "application/vnd.ctt-hub.tree-head+json; version=1"


class TreeHeadBody(_Strict):
    """What the hub signs about its audit log: how many entries it holds and their Merkle root.

    The root is RFC 6962's Merkle tree hash over the first `tree_size` entries (docs/audit.md).
    """

    tree_head_version: Literal[1] = 1
    log: Literal["ctt-hub-audit"] = "ctt-hub-audit"
    tree_size: int = Field(ge=0)
    root_hash: Sha256Hex
    timestamp: AwareDatetime
