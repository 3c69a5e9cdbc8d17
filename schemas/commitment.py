"""Wire formats of report commitments and forwards: what lets a forward be checked offline.

At intake the hub commits to each report field by field with a random salt that travels only
inside sealed copies, and signs the commitment (`CommitmentBody`). A recipient that passes the
report on signs a `ForwardBody` naming that commitment; inside the sealed part (`ForwardOpening`)
it opens the fields it discloses and names those it withholds. docs/protocol.md, section 7, gives
the byte layouts.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.envelope import Base64, Envelope, KeyId, RecipientId, Sha256Hex

COMMITMENT_TYPE = "application/vnd.ctt-hub.commitment+json; version=1"
FORWARD_TYPE = "application/vnd.ctt-hub.forward+json; version=1"

# A leaf's name: a top-level member of the report, or `reporter.<member>`.
FieldName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z_]+(\.[a-z_]+)?$")]
Digest = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Salt = Annotated[str, Field(min_length=44, max_length=44, pattern=r"^[A-Za-z0-9+/]{43}=$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CommitmentLeaf(_Strict):
    """One field's salted digest: BLAKE2b-256 keyed with the field's salt, over its value."""

    name: FieldName
    digest: Digest


class CommitmentBody(_Strict):
    """What the hub signs at intake about a report's content, without being able to open it."""

    commitment_version: Literal[1] = 1
    report_id: UUID
    algorithm: Literal["blake2b-256"] = "blake2b-256"
    leaves: list[CommitmentLeaf] = Field(min_length=1, max_length=64)
    root: Digest = Field(description="BLAKE2b-256 of the leaves' canonical JSON (protocol §7).")
    committed_at: AwareDatetime


class ForwardBody(_Strict):
    """What a forwarding recipient signs: the report, whose commitment, to whom, sealed how."""

    forward_version: Literal[1] = 1
    forward_id: UUID
    report_id: UUID
    from_recipient_id: RecipientId
    to_recipient_id: RecipientId
    to_key_id: KeyId = Field(description="The X25519 key of the next recipient sealed to.")
    forwarded_at: AwareDatetime
    commitment: Envelope = Field(
        description="The hub's signed commitment, as the forwarder got it."
    )
    sealed_sha256: Sha256Hex = Field(description="SHA-256 of the sealed ForwardOpening.")


class DisclosedField(_Strict):
    """A field passed on: its value and its salt, so the receiver recomputes its leaf."""

    name: FieldName
    value: Any
    salt: Salt


class ForwardAdditions(_Strict):
    """What the forwarder adds: it signs these, the hub never committed to them."""

    classification: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.-]{0,62}$")] | None = None
    note: Annotated[str, Field(min_length=1, max_length=4000)] | None = None


class ForwardOpening(_Strict):
    """The plaintext sealed to the next recipient: what is disclosed, withheld and added."""

    opening_version: Literal[1] = 1
    report_id: UUID
    disclosed: list[DisclosedField] = Field(max_length=64)
    withheld: list[FieldName] = Field(max_length=64)
    additions: ForwardAdditions


class ForwardRequest(_Strict):
    """What a forwarder sends to the hub: its signed forward and the sealed opening."""

    forward: Envelope
    sealed: Base64


class ForwardAnswer(_Strict):
    """The hub's answer: the forward accepted for delivery (the packet id is the receiver's)."""

    forward_id: UUID
    report_id: UUID
    to_recipient_id: RecipientId
    accepted_at: AwareDatetime


class ForwardTarget(_Strict):
    """A section or police desk that can be forwarded to, with its current sealing key."""

    recipient_id: RecipientId
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    kind: Literal["section", "police"]
    key_id: KeyId
    public_key: Base64


class ForwardTargets(_Strict):
    """Every recipient a report can be forwarded to."""

    targets: list[ForwardTarget]


class CopyDeletion(_Strict):
    """A recipient's statement that it deleted its copy of a report."""

    deleted_at: AwareDatetime
    reason: Literal["forwarded", "procedure"] = "forwarded"


class CopyDeletionAnswer(_Strict):
    """The hub's record of a deletion."""

    report_id: UUID
    recipient_id: RecipientId
    deleted_at: AwareDatetime
    recorded_at: AwareDatetime
