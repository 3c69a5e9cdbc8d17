"""The evidence bundle of one report: what a court needs to see that it reached the police intact.

One JSON file, written by `hub evidence export` (or `GET /v1/reports/{id}/evidence`) and checked
offline by `connector evidence verify`. Almost everything in it is signed by someone else than the
party handing it over: the hub's acknowledgement, packets and tree head, the recipients' receipts,
the forwarders' forwards; the audit entries are tied to the signed tree head by RFC 6962 inclusion
proofs, and the hub's keys to the key a verifier pinned by their endorsements. The rest (states,
the time of export) is the exporter's word, and the hub's `statement` signs a digest of the whole
bundle so that not one byte of meaning can change unseen. docs/protocol.md, section 9, specifies
the file so that anyone can verify it without this code.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.envelope import Envelope, PublishedHubKeys, RecipientId, Sha256Hex

EVIDENCE_FORMAT: Final = "ctt-hub-evidence/1"
EVIDENCE_TYPE = "application/vnd.ctt-hub.evidence+json; version=1"

LeafIndex = Annotated[int, Field(ge=0, le=2**63 - 1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EvidenceEntry(_Strict):
    """One audit entry, as its exact text, with its audit path to the bundle's tree head."""

    leaf_index: LeafIndex
    entry: str = Field(
        max_length=200_000,
        description="The entry's exact text: SHA-256(0x00 || UTF-8) is its leaf.",
    )
    audit_path: list[Sha256Hex] = Field(
        max_length=64, description="RFC 6962 PATH, hex, from the leaf's sibling upwards."
    )


class EvidencePacket(_Strict):
    """One packet of the report (from intake, sealed again, or forwarded) and its receipt."""

    packet_id: UUID
    recipient_id: RecipientId
    rules: list[str] = Field(
        description="The routing rules that chose it; ['forward'] if forwarded."
    )
    state: str = Field(max_length=20, description="The hub's word: its delivery state at export.")
    envelope: Envelope | None = Field(
        description="The hub's signed packet exactly as stored (ciphertext); null once purged."
    )
    receipt: Envelope | None = Field(description="The recipient's signed receipt, if it sent one.")


class EvidenceForward(_Strict):
    """A forward of the report by one recipient to another, as the hub recorded it."""

    forward_id: UUID
    from_recipient_id: RecipientId
    to_recipient_id: RecipientId
    packet_id: UUID = Field(description="The packet that carries it, among the bundle's packets.")
    forward_sha256: Sha256Hex = Field(description="SHA-256 of the forwarder's signed payload.")
    forwarded_at: AwareDatetime
    accepted_at: AwareDatetime


class EvidenceDeletion(_Strict):
    """A recipient's statement that it deleted its copy of the report."""

    recipient_id: RecipientId
    reason: Literal["forwarded", "procedure"]
    deleted_at: AwareDatetime
    recorded_at: AwareDatetime


class EvidenceContents(_Strict):
    """Everything about one report's way that can be verified offline, never its content."""

    # `format` has a default, but every bundle written carries it: the schema says so.
    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_serialization_defaults_required=True
    )

    format: Literal["ctt-hub-evidence/1"] = EVIDENCE_FORMAT
    report_id: UUID = Field(
        description="The id the source chose, as its acknowledgement and the packets name it."
    )
    report_key: UUID | None = Field(
        default=None,
        # Absent, not null, when it equals report_id: bundles exported before it existed keep
        # their digest.
        exclude_if=lambda value: value is None,
        description="The hub's key of the report, only when it is not report_id (another source "
        "had chosen that id first): the audit entries name the report by it (protocol §4).",
    )
    exported_at: AwareDatetime
    acknowledgement: Envelope = Field(description="The hub's signed acknowledgement to the source.")
    packets: list[EvidencePacket] = Field(max_length=10_000)
    forwards: list[EvidenceForward] = Field(max_length=10_000)
    copy_deletions: list[EvidenceDeletion] = Field(max_length=10_000)
    tree_head: Envelope = Field(description="The hub's signed tree head every proof leads to.")
    entries: list[EvidenceEntry] = Field(
        max_length=100_000,
        description="The report's audit entries and those registering the keys its receipts "
        "and forwards are signed with, each with its inclusion proof.",
    )
    hub_keys: PublishedHubKeys = Field(description="Every signing key the hub has used.")


class EvidenceStatement(_Strict):
    """What the hub signs about a bundle it exported: the digest of all of its contents."""

    statement_version: Literal[1] = 1
    report_id: UUID
    exported_at: AwareDatetime
    bundle_sha256: Sha256Hex = Field(
        description="SHA-256 of the RFC 8785 canonical JSON of the bundle without `statement`."
    )


class EvidenceBundle(EvidenceContents):
    """The bundle as written and served: its contents and the hub's statement over them."""

    statement: Envelope = Field(description="The hub's signed EvidenceStatement, checked last.")
