"""The audit events of each step of a report's way, built from the rows the step changes.

Intake, delivery, push, retention, rotation and the directory call these where the change
happens, in the same session, so each change and its record commit together (hub/audit/log.py).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypedDict, cast

from sqlmodel import Session, col, select

from hub.audit.events import (
    CredentialChanged,
    DeliveryDead,
    DeliveryModeChanged,
    DeliveryRedriven,
    HubKeyRotated,
    KeyRegistered,
    KeyRevoked,
    PacketAwaitingKey,
    PacketHeld,
    PacketPulled,
    PacketPurged,
    PacketPushed,
    PacketSealed,
    PacketSuperseded,
    PushRetry,
    ReceiptRejected,
    ReceiptVerified,
    RecipientRegistered,
    ReportAccepted,
    ReportRouted,
    SourceRegistered,
)
from hub.audit.log import record, record_now
from hub.store import CredentialRow, DeliveryRow, RecipientKeyRow, RecipientRow, SourceRow
from schemas.envelope import Envelope, PublishedHubKey, RoutedRecipient

__all__ = [
    "SealedDelivery",
    "record_acceptance",
    "record_awaiting_key",
    "record_credential",
    "record_dead",
    "record_held",
    "record_hub_key",
    "record_key",
    "record_key_revoked",
    "record_mode",
    "record_pulled",
    "record_purged",
    "record_pushed",
    "record_receipt",
    "record_receipt_rejected",
    "record_recipient",
    "record_redriven",
    "record_resealed",
    "record_retry",
    "record_routing",
    "record_source",
]


def _signer(envelope: Envelope) -> str:
    return envelope.signatures[0].keyid


class _Packet(TypedDict):
    report_id: str
    packet_id: str
    recipient_id: str


def _packet(row: DeliveryRow) -> _Packet:
    """The ids every event about one delivery carries."""
    return {
        "report_id": row.report_id,
        "packet_id": row.packet_id,
        "recipient_id": row.recipient_id,
    }


@dataclass(frozen=True)
class SealedDelivery:
    """What the audit log keeps of a packet sealed at intake: ids and digests, never its bytes."""

    packet_id: str
    recipient_id: str
    recipient_key_id: str
    sealed_sha256: str
    hub_key_id: str


def record_routing(
    session: Session,
    *,
    report_id: str,
    source_id: str,
    recipients: list[RoutedRecipient],
    now: datetime,
) -> tuple[int, str]:
    """A report routed, appended at once: its entry's index and leaf hash, which the
    acknowledgement promises will be covered by a signed tree head (docs/audit.md).

    The entry names the report as its source does (`source_id`, `report_id`), not by the hub's
    key, so that the source rebuilds it from the acknowledgement alone, and a key of its own
    (another source used the id first) is not revealed to it."""
    routed = ReportRouted(report_id=report_id, source_id=source_id, recipients=recipients)
    return record_now(session, routed, at=now)


def record_acceptance(
    session: Session,
    *,
    report_id: str,
    acknowledgement: Envelope,
    deliveries: Iterable[SealedDelivery],
    source_id: str,
    now: datetime,
) -> None:
    """A report accepted (its acknowledgement's digest) and sealed once per recipient; its
    routing is recorded first, by `record_routing`."""
    payload = base64.b64decode(acknowledgement.payload)
    record(
        session,
        ReportAccepted(
            report_id=report_id,
            source_id=source_id,
            acknowledgement_key_id=_signer(acknowledgement),
            acknowledgement_sha256=hashlib.sha256(payload).hexdigest(),
        ),
        at=now,
    )
    for sealed in deliveries:
        record(
            session,
            PacketSealed(
                report_id=report_id,
                packet_id=sealed.packet_id,
                recipient_id=sealed.recipient_id,
                recipient_key_id=sealed.recipient_key_id,
                sealed_sha256=sealed.sealed_sha256,
                hub_key_id=sealed.hub_key_id,
            ),
            at=now,
        )


def record_resealed(
    session: Session,
    held: DeliveryRow,
    packet: SealedDelivery,
    now: datetime,
) -> None:
    """A held packet superseded by a new one sealed to the recipient's current key."""
    record(
        session,
        PacketSuperseded(**_packet(held)),
        at=now,
    )
    record(
        session,
        PacketSealed(
            report_id=held.report_id,
            packet_id=packet.packet_id,
            recipient_id=packet.recipient_id,
            recipient_key_id=packet.recipient_key_id,
            sealed_sha256=packet.sealed_sha256,
            hub_key_id=packet.hub_key_id,
        ),
        at=now,
    )


def record_pulled(
    session: Session, packet_ids: list[str], lease_until: datetime, now: datetime
) -> None:
    """Packets leased to their recipient by a pull."""
    if not packet_ids:
        return
    rows = session.exec(
        select(DeliveryRow)
        .where(col(DeliveryRow.packet_id).in_(packet_ids))
        .order_by(col(DeliveryRow.created_at), col(DeliveryRow.packet_id))
    ).all()
    for row in rows:
        record(session, PacketPulled(**_packet(row), lease_until=lease_until), at=now)


def record_receipt(
    session: Session,
    row: DeliveryRow,
    receipt: Envelope,
    via: Literal["pull", "push"],
    now: datetime,
) -> None:
    """A verified receipt recorded: the delivery is delivered."""
    record(session, ReceiptVerified(**_packet(row), via=via, receipt=receipt), at=now)


def record_receipt_rejected(
    session: Session,
    recipient_id: str,
    packet_id: str | None,
    reason: str,
    now: datetime,
    count: int = 1,
) -> None:
    """A receipt, or `count` receipts of one batch, that failed verification (nothing was
    recorded for their packets)."""
    record(
        session,
        ReceiptRejected(
            recipient_id=recipient_id, packet_id=packet_id, reason=reason[:300], count=count
        ),
        at=now,
    )


def record_pushed(session: Session, row: DeliveryRow, attempt: int, now: datetime) -> None:
    """A packet pushed and answered with a receipt that verified."""
    record(session, PacketPushed(**_packet(row), attempt=attempt), at=now)


def record_retry(session: Session, row: DeliveryRow, attempt: int, now: datetime) -> None:
    """A push that failed and will be tried again at `row.next_attempt_at`."""
    error = (row.last_error or "")[:300]
    event = PushRetry(
        **_packet(row), attempt=attempt, error=error, next_attempt_at=row.next_attempt_at
    )
    record(session, event, at=now)


def record_dead(session: Session, row: DeliveryRow, attempts: int, now: datetime) -> None:
    """A delivery given up: a dead letter until it is re-driven."""
    error = (row.last_error or "")[:300]
    record(session, DeliveryDead(**_packet(row), attempts=attempts, error=error), at=now)


def record_redriven(
    session: Session, rows: Iterable[DeliveryRow], actor: str, now: datetime
) -> None:
    """Dead deliveries given a new retry window, and who asked."""
    for row in rows:
        record(session, DeliveryRedriven(**_packet(row), actor=actor), at=now)


def record_purged(session: Session, rows: Iterable[DeliveryRow], now: datetime) -> None:
    """Sealed bytes dropped after their retention."""
    for row in rows:
        state: Literal["delivered", "dead", "awaiting_reseal"] = (
            "awaiting_reseal"
            if row.state == "awaiting_reseal"
            else "dead"
            if row.state == "dead"
            else "delivered"
        )
        record(session, PacketPurged(**_packet(row), state=state), at=now)


def record_held(
    session: Session, rows: Iterable[DeliveryRow], revoked_key_id: str, now: datetime
) -> None:
    """Undelivered packets held after their sealing key was revoked."""
    for row in rows:
        record(session, PacketHeld(**_packet(row), revoked_key_id=revoked_key_id), at=now)


def record_awaiting_key(
    session: Session, report_id: str, held: Iterable[tuple[str, str]], now: datetime
) -> None:
    """Copies of a report held at intake, by (packet id, recipient id): no current key."""
    for packet_id, recipient_id in held:
        record(
            session,
            PacketAwaitingKey(report_id=report_id, packet_id=packet_id, recipient_id=recipient_id),
            at=now,
        )


def record_source(session: Session, row: SourceRow) -> None:
    """A portal registered."""
    record(session, SourceRegistered(source_id=row.id, country=row.country), at=row.created_at)


def record_recipient(session: Session, row: RecipientRow) -> None:
    """A recipient registered (its keys are recorded one by one)."""
    record(
        session,
        RecipientRegistered(
            recipient_id=row.id,
            country=row.country,
            recipient_kind=cast(Any, row.kind),
            delivery_mode=cast(Any, row.delivery_mode),
        ),
        at=row.created_at,
    )


def record_mode(session: Session, row: RecipientRow, now: datetime) -> None:
    """A recipient switched between push and pull."""
    record(
        session,
        DeliveryModeChanged(
            recipient_id=row.id,
            delivery_mode=cast(Any, row.delivery_mode),
        ),
        at=now,
    )


def record_key(session: Session, row: RecipientKeyRow, now: datetime) -> None:
    """A recipient's public key registered, with its start."""
    record(
        session,
        KeyRegistered(
            recipient_id=row.recipient_id,
            key_id=row.key_id,
            purpose=cast(Any, row.purpose),
            public_key=base64.b64encode(row.public_key).decode("ascii"),
            valid_from=row.valid_from,
        ),
        at=now,
    )


def record_key_revoked(session: Session, row: RecipientKeyRow, now: datetime) -> None:
    """A recipient's key revoked."""
    record(
        session,
        KeyRevoked(
            recipient_id=row.recipient_id,
            key_id=row.key_id,
            purpose=cast(Any, row.purpose),
        ),
        at=now,
    )


def record_hub_key(session: Session, entry: PublishedHubKey, previous_key_id: str) -> None:
    """The hub's signing key replaced (the running hub signs with the new one once restarted)."""
    record(
        session,
        HubKeyRotated(
            key_id=entry.key_id, previous_key_id=previous_key_id, valid_from=entry.valid_from
        ),
        at=entry.valid_from,
    )


def record_credential(
    session: Session,
    row: CredentialRow,
    change: Literal["issued", "rotated", "revoked"],
    now: datetime,
) -> None:
    """A credential issued, rotated (the old one ending) or revoked: never its token or hash."""
    record(
        session,
        CredentialChanged(
            credential_id=row.credential_id,
            role=cast(Any, row.role),
            principal_id=row.principal_id,
            change=change,
            ends_at=row.revoked_at or row.expires_at,
        ),
        at=now,
    )
