"""What the audit log records: one small, strict model per kind of event.

Events hold ids, kinds, times, states, digests, key ids and public keys, and the recipients' own
signed receipts (which name a packet and a digest, nothing more). Never report content, never a
credential: the field types below are the whole vocabulary, and a test checks it stays so.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.envelope import Base64, Envelope, KeyId, RecipientId, RoutedRecipient, Sha256Hex

__all__ = [
    "EVENT_KINDS",
    "AuditEvent",
    "CopyDeleted",
    "CountryProcedure",
    "CredentialChanged",
    "CriterionDeclared",
    "DeliveryDead",
    "DeliveryModeChanged",
    "DeliveryRedriven",
    "ForwardAccepted",
    "HubKeyRotated",
    "KeyRegistered",
    "KeyRevoked",
    "OperatorAction",
    "OutcomeRecorded",
    "PacketAwaitingKey",
    "PacketHeld",
    "PacketPulled",
    "PacketPurged",
    "PacketPushed",
    "PacketSealed",
    "PacketSuperseded",
    "ProceduresChanged",
    "ProfileRegistered",
    "PushRetry",
    "ReceiptRejected",
    "ReceiptVerified",
    "RecipientRegistered",
    "ReportAccepted",
    "ReportRouted",
    "SourceRegistered",
    "StatusSeen",
    "TriageDecided",
]

Id = Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9-]*$")]
Uuid = Annotated[
    str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
Short = Annotated[str, Field(max_length=300)]  # our own error texts (e.g. "HTTP 503"), never input


class AuditEvent(BaseModel):
    """Base of every event; `kind` names it in the log."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ClassVar[str]

    @property
    def report(self) -> str | None:
        """The report this event is about, if any (a column for look-ups)."""
        value = getattr(self, "report_id", None)
        return value if isinstance(value, str) else None

    @property
    def recipient(self) -> str | None:
        """The recipient this event is about, if any (a column for look-ups)."""
        value = getattr(self, "recipient_id", None)
        return value if isinstance(value, str) else None


# The directory: who takes part, with which keys.


class SourceRegistered(AuditEvent):
    kind: ClassVar[str] = "source_registered"
    source_id: Id
    country: Country | None


class ProfileRegistered(AuditEvent):
    """A member's country profile registered (or replaced): what the hub judges it by."""

    kind: ClassVar[str] = "profile_registered"
    profile_code: Annotated[str, Field(pattern=r"^[A-Z]{2,3}$")]
    country: Country | None
    profile_sha256: Sha256Hex = Field(description="SHA-256 of the profile.toml bytes.")
    languages: list[Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]]
    timezone: Annotated[str, Field(max_length=60)]
    calendar: Annotated[str, Field(max_length=60)] | None = Field(
        description="The holidays calendar, e.g. FR or DE-HE; none: weekends only."
    )


class RecipientRegistered(AuditEvent):
    kind: ClassVar[str] = "recipient_registered"
    recipient_id: RecipientId
    country: Country | None
    recipient_kind: Literal["section", "police", "coordinator"]
    delivery_mode: Literal["pull", "push"]


class DeliveryModeChanged(AuditEvent):
    kind: ClassVar[str] = "delivery_mode_changed"
    recipient_id: RecipientId
    delivery_mode: Literal["pull", "push"]


class KeyRegistered(AuditEvent):
    kind: ClassVar[str] = "key_registered"
    recipient_id: RecipientId
    key_id: KeyId
    purpose: Literal["sealing", "receipt"]
    public_key: Base64
    valid_from: AwareDatetime


class KeyRevoked(AuditEvent):
    kind: ClassVar[str] = "key_revoked"
    recipient_id: RecipientId
    key_id: KeyId
    purpose: Literal["sealing", "receipt"]


class HubKeyRotated(AuditEvent):
    kind: ClassVar[str] = "hub_key_rotated"
    key_id: KeyId
    previous_key_id: KeyId
    valid_from: AwareDatetime


class CredentialChanged(AuditEvent):
    """A credential issued, rotated or revoked: its public id only, never the token or hash."""

    kind: ClassVar[str] = "credential_changed"
    credential_id: Annotated[str, Field(pattern=r"^cred-[0-9a-f]{16}$")]
    role: Literal["source", "recipient", "administrator"]
    principal_id: Id
    change: Literal["issued", "rotated", "revoked"]
    ends_at: AwareDatetime | None = None


# A report's way: accepted, routed, sealed, pulled or pushed, receipted.


class ReportAccepted(AuditEvent):
    kind: ClassVar[str] = "report_accepted"
    report_id: Uuid
    source_id: Id
    acknowledgement_key_id: KeyId
    acknowledgement_sha256: Sha256Hex = Field(description="SHA-256 of the signed payload.")


class ReportRouted(AuditEvent):
    kind: ClassVar[str] = "report_routed"
    report_id: Uuid = Field(description="The id the source gave the report.")
    source_id: Id | None = Field(
        default=None, description="The source; null in entries written before ids were per source."
    )
    recipients: list[RoutedRecipient]


class PacketSealed(AuditEvent):
    kind: ClassVar[str] = "packet_sealed"
    report_id: Uuid
    packet_id: Uuid
    recipient_id: RecipientId
    recipient_key_id: KeyId
    sealed_sha256: Sha256Hex
    hub_key_id: KeyId


class PacketSuperseded(AuditEvent):
    kind: ClassVar[str] = "packet_superseded"
    report_id: Uuid
    packet_id: Uuid
    recipient_id: RecipientId


class PacketHeld(AuditEvent):
    kind: ClassVar[str] = "packet_held"
    report_id: Uuid
    packet_id: Uuid
    recipient_id: RecipientId
    revoked_key_id: KeyId


class PacketAwaitingKey(AuditEvent):
    """A routed recipient's copy held at intake: it had no current sealing key."""

    kind: ClassVar[str] = "packet_awaiting_key"
    report_id: Uuid
    packet_id: Uuid
    recipient_id: RecipientId


class PacketPulled(AuditEvent):
    kind: ClassVar[str] = "packet_pulled"
    report_id: Uuid
    packet_id: Uuid
    recipient_id: RecipientId
    lease_until: AwareDatetime


class PacketPushed(AuditEvent):
    kind: ClassVar[str] = "packet_pushed"
    report_id: Uuid
    packet_id: Uuid
    recipient_id: RecipientId
    attempt: int = Field(ge=1)


class PushRetry(AuditEvent):
    kind: ClassVar[str] = "push_retry"
    report_id: Uuid
    packet_id: Uuid
    recipient_id: RecipientId
    attempt: int = Field(ge=1)
    error: Short
    next_attempt_at: AwareDatetime


class DeliveryDead(AuditEvent):
    kind: ClassVar[str] = "delivery_dead"
    report_id: Uuid
    packet_id: Uuid
    recipient_id: RecipientId
    attempts: int = Field(ge=0)
    error: Short


class ReceiptVerified(AuditEvent):
    kind: ClassVar[str] = "receipt_verified"
    report_id: Uuid
    packet_id: Uuid
    recipient_id: RecipientId
    via: Literal["pull", "push"]
    receipt: Envelope = Field(description="The recipient's signed receipt, exactly as received.")


class ReceiptRejected(AuditEvent):
    """A pushed receipt, or a batch of receipts, refused: one entry per batch, however large,
    so a recipient cannot grow the log by sending many bad receipts at once."""

    kind: ClassVar[str] = "receipt_rejected"
    recipient_id: RecipientId
    packet_id: Uuid | None
    reason: Short
    count: int = Field(1, ge=1, description="How many receipts of the batch failed.")


class DeliveryRedriven(AuditEvent):
    kind: ClassVar[str] = "delivery_redriven"
    report_id: Uuid
    packet_id: Uuid
    recipient_id: RecipientId
    actor: Id


class PacketPurged(AuditEvent):
    kind: ClassVar[str] = "packet_purged"
    report_id: Uuid
    packet_id: Uuid
    recipient_id: RecipientId
    state: Literal["delivered", "dead", "awaiting_reseal"]


# Forwards: a recipient passing a report on, and deleting its copy.


class ForwardAccepted(AuditEvent):
    """A recipient's signed forward routed to the next recipient as a new packet."""

    kind: ClassVar[str] = "forward_accepted"
    report_id: Uuid
    forward_id: Uuid
    packet_id: Uuid
    from_recipient_id: RecipientId
    recipient_id: RecipientId = Field(description="The recipient the report is forwarded to.")
    recipient_key_id: KeyId
    forwarder_key_id: KeyId
    forward_sha256: Sha256Hex = Field(description="SHA-256 of the forwarder's signed payload.")
    sealed_sha256: Sha256Hex
    hub_key_id: KeyId


class CopyDeleted(AuditEvent):
    """A recipient's statement that it deleted its copy of a report."""

    kind: ClassVar[str] = "copy_deleted"
    report_id: Uuid
    recipient_id: RecipientId
    reason: Literal["forwarded", "procedure"]
    deleted_at: AwareDatetime


# The network's routing procedures.


class CountryProcedure(BaseModel):
    """Who in a country receives a report first, and whether the other gets a copy at once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    country: Country
    first: Literal["section", "police"]
    copy_other: bool


class ProceduresChanged(AuditEvent):
    """The hub started with other procedures than the log last recorded: all now in force.

    A country not listed receives at its section and police at once; an empty list says that
    no country has a procedure any more.
    """

    kind: ClassVar[str] = "procedures_changed"
    procedures: list[CountryProcedure] = Field(description="One per country, sorted by country.")


# Feedback and quality.


class OutcomeRecorded(AuditEvent):
    kind: ClassVar[str] = "outcome_recorded"
    report_id: Uuid
    recipient_id: RecipientId
    outcome: Annotated[str, Field(pattern=r"^[a-z_]{1,40}$")]


class TriageDecided(AuditEvent):
    """A recipient's triage decision on a report it received: codes and times, never content."""

    kind: ClassVar[str] = "triage_decided"
    report_id: Uuid
    recipient_id: RecipientId
    decision_id: Uuid
    decision: Literal["forward", "needs_information", "close"]
    classification: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    reason_code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")] | None
    decided_at: AwareDatetime


class StatusSeen(AuditEvent):
    kind: ClassVar[str] = "status_seen"
    report_id: Uuid
    source_id: Id
    receipts: int = Field(ge=0)
    outcomes: int = Field(ge=0)


class CriterionDeclared(AuditEvent):
    # Q ids stay valid: entries logged before the move to S1-S12 must still verify.
    kind: ClassVar[str] = "criterion_declared"
    country: Country
    criterion: Annotated[str, Field(pattern=r"^[QSN][0-9]{1,2}$")]
    stated_on: date
    holds: bool
    evidence_url: Annotated[str, Field(max_length=500)] | None
    declared_by: Id


# People acting on the hub.


class OperatorAction(AuditEvent):
    """An administrator's command or a coordinator's action on the dashboard."""

    kind: ClassVar[str] = "operator_action"
    actor: Id
    role: Literal["administrator", "coordinator"]
    action: Annotated[str, Field(pattern=r"^[a-z][a-z_.-]{0,60}$")]
    subject: Annotated[str, Field(max_length=100)] | None = None


EVENT_KINDS: dict[str, type[AuditEvent]] = {
    cls.kind: cls
    for cls in (
        SourceRegistered,
        ProfileRegistered,
        RecipientRegistered,
        DeliveryModeChanged,
        KeyRegistered,
        KeyRevoked,
        HubKeyRotated,
        CredentialChanged,
        ReportAccepted,
        ReportRouted,
        PacketSealed,
        PacketSuperseded,
        PacketHeld,
        PacketAwaitingKey,
        PacketPulled,
        PacketPushed,
        PushRetry,
        DeliveryDead,
        ReceiptVerified,
        ReceiptRejected,
        DeliveryRedriven,
        PacketPurged,
        ForwardAccepted,
        CopyDeleted,
        ProceduresChanged,
        OutcomeRecorded,
        TriageDecided,
        StatusSeen,
        CriterionDeclared,
        OperatorAction,
    )
}
