"""Delivery by pull: leasing packets to their recipient, recording receipts, reporting status.

A delivery is `pending` until the hub holds a verified receipt for it, then `delivered`. A pull
leases pending packets for a while; a leased packet whose lease ends without a receipt is offered
again at the next pull. A recipient only ever sees rows whose recipient_id is its own.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from nacl.signing import VerifyKey
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from hub.audit.records import (
    record_pulled,
    record_receipt,
    record_receipt_rejected,
    record_redriven,
)
from hub.crypto import verify_receipt
from hub.errors import FieldError, InvalidInput, NotFound, PacketInvalid, ReceiptRejected
from hub.logs import get_logger
from hub.network.directory import receipt_keys
from hub.store import DeliveryRow, ReportRow
from schemas.envelope import Envelope

log = get_logger(__name__)


class DeliveryState(StrEnum):
    pending = "pending"
    leased = "leased"  # shown to people only: a pending delivery whose lease or claim runs
    delivered = "delivered"
    dead = "dead"
    awaiting_reseal = "awaiting_reseal"  # sealed to a revoked key; waits for the source to resend
    awaiting_key = "awaiting_key"  # shown only: held at intake, the recipient had no current key
    superseded = "superseded"  # sealed again to a current key, as a new packet
    stuck = "stuck"  # shown only: pending, and the hub refused the recipient's last receipt for it


# The start of `last_error` on a pending delivery whose receipt the hub refused: shown as stuck,
# so that a coordinator sees a member whose connector resends receipts the hub cannot accept.
RECEIPT_REFUSED = "receipt refused: "


class Inbox(BaseModel):
    """Packets leased to the caller until `lease_until`."""

    model_config = ConfigDict(extra="forbid")

    lease_until: AwareDatetime
    packets: list[Envelope]


class ReceiptBatch(BaseModel):
    """Receipts sent by a recipient for packets it pulled."""

    model_config = ConfigDict(extra="forbid")

    receipts: list[Envelope] = Field(min_length=1, max_length=1000)


class ReceiptOutcome(BaseModel):
    """Which receipts were new and which the hub already held."""

    model_config = ConfigDict(extra="forbid")

    recorded: list[str]
    already_recorded: list[str]


class DeliveryStatus(BaseModel):
    """One delivery as coordinators see it: state, times, receipt; never content."""

    model_config = ConfigDict(extra="forbid")

    packet_id: str
    recipient_id: str
    rules: list[str]
    state: DeliveryState
    created_at: AwareDatetime
    lease_until: AwareDatetime | None
    pulls: int
    attempts: int
    last_error: str | None
    delivered_at: AwareDatetime | None
    dead_at: AwareDatetime | None
    purged_at: AwareDatetime | None
    receipt: Envelope | None


class ReportDeliveries(BaseModel):
    """Every delivery of one report."""

    model_config = ConfigDict(extra="forbid")

    report_id: str
    source: str
    accepted_at: AwareDatetime
    deliveries: list[DeliveryStatus]


def lease_packets(
    session: Session, *, recipient_id: str, now: datetime, lease: timedelta, limit: int
) -> Inbox:
    """Lease up to `limit` of the recipient's undelivered packets whose lease is free."""
    until = now + lease
    free = or_(col(DeliveryRow.lease_until).is_(None), col(DeliveryRow.lease_until) <= now)
    candidates = session.exec(
        select(DeliveryRow.packet_id)
        .where(DeliveryRow.recipient_id == recipient_id)
        .where(DeliveryRow.state == DeliveryState.pending)
        .where(free)
        .order_by(col(DeliveryRow.created_at), col(DeliveryRow.packet_id))
        .limit(limit)
    ).all()
    leased: list[str] = []
    for packet_id in candidates:
        # The condition is checked again in the UPDATE, so two concurrent pulls never share one.
        result = session.execute(
            update(DeliveryRow)
            .where(col(DeliveryRow.packet_id) == packet_id)
            .where(col(DeliveryRow.state) == DeliveryState.pending)
            .where(free)
            .values(lease_until=until, pulls=col(DeliveryRow.pulls) + 1)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            leased.append(packet_id)
    record_pulled(session, leased, until, now)
    session.commit()
    packets = [
        Envelope.model_validate_json(_packet_of(row))
        for row in session.exec(
            select(DeliveryRow)
            .where(col(DeliveryRow.packet_id).in_(leased))
            .order_by(col(DeliveryRow.created_at), col(DeliveryRow.packet_id))
        ).all()
    ]
    if leased:
        log.info("packets_leased", recipient_id=recipient_id, packet_ids=leased)
    return Inbox(lease_until=until, packets=packets)


@dataclass(frozen=True)
class RecordedReceipts:
    """The answer to the recipient, and each new delivery's time from intake to receipt."""

    outcome: ReceiptOutcome
    latencies: list[timedelta]


def record_receipts(
    session: Session, *, recipient_id: str, batch: ReceiptBatch, now: datetime
) -> RecordedReceipts:
    """Verify every receipt, then record them all, or none if any fails.

    Raises InvalidInput naming the receipts that failed: a bad signature, a packet that is not
    the caller's, or a digest that does not match what the hub sealed.
    """
    trusted = receipt_keys(session, recipient_id, now)
    accepted: list[tuple[DeliveryRow, Envelope]] = []
    failures: list[FieldError] = []
    for index, envelope in enumerate(batch.receipts):
        try:
            accepted.append((check_receipt(session, recipient_id, envelope, trusted), envelope))
        except PacketInvalid as exc:
            failures.append(FieldError(f"receipts.{index}", str(exc)))
    if failures:
        # pragma: no mutate start
        log.warning(
            "receipts_rejected",
            recipient_id=recipient_id,
            failed=len(failures),
            first_failed=failures[0].field,
            reasons=sorted({f.reason for f in failures}),
        )
        # pragma: no mutate end
        # One entry for the whole batch: its size must not decide how much the log grows.
        reasons = "; ".join(sorted({f.reason for f in failures}))
        record_receipt_rejected(session, recipient_id, None, reasons, now, count=len(failures))
        _flag_refused(session, recipient_id, batch, failures)
        session.commit()  # the rejection is on record; no receipt of the batch is
        raise InvalidInput(failures)
    outcome = ReceiptOutcome(recorded=[], already_recorded=[])
    latencies = []
    for row, envelope in accepted:
        latency = mark_delivered(session, row, envelope, now)
        if latency is None:
            outcome.already_recorded.append(row.packet_id)
        else:
            outcome.recorded.append(row.packet_id)
            latencies.append(latency)
    session.commit()
    # pragma: no mutate start
    log.info(
        "receipts_recorded",
        recipient_id=recipient_id,
        recorded=outcome.recorded,
        already_recorded=outcome.already_recorded,
    )
    # pragma: no mutate end
    return RecordedReceipts(outcome=outcome, latencies=latencies)


def _flag_refused(
    session: Session, recipient_id: str, batch: ReceiptBatch, failures: list[FieldError]
) -> None:
    """Mark the caller's pending deliveries whose receipt was refused, so they show as stuck.

    The packet id is the one the refused receipt claims, unverified: only a pending delivery of
    the caller itself is marked, and a verified receipt clears the mark.
    """
    for failure in failures:
        index = int(failure.field.rsplit(".", 1)[-1])
        row = session.get(DeliveryRow, _claimed_packet_id(batch.receipts[index]))
        if row is not None and row.recipient_id == recipient_id and row.state == "pending":
            row.last_error = (RECEIPT_REFUSED + failure.reason)[:300]
            session.add(row)


def _claimed_packet_id(envelope: Envelope) -> str:
    try:
        claimed = json.loads(base64.b64decode(envelope.payload, validate=True))["packet_id"]
    except (binascii.Error, ValueError, TypeError, KeyError, RecursionError):
        return ""
    return str(claimed)[:36] if isinstance(claimed, str) else ""


def _packet_of(row: DeliveryRow) -> str:
    if row.packet is None:
        raise NotFound(f"packet {row.packet_id} was purged")
    return row.packet


def mark_delivered(
    session: Session,
    row: DeliveryRow,
    receipt: Envelope,
    now: datetime,
    via: Literal["pull", "push"] = "pull",
) -> timedelta | None:
    """Record a verified receipt; return the time from intake, or None if it had one already."""
    if row.state == DeliveryState.delivered:
        return None
    row.state = DeliveryState.delivered
    row.delivered_at = now
    row.lease_until = None
    row.last_error = None
    row.receipt = receipt.model_dump_json()
    session.add(row)
    record_receipt(session, row, receipt, via, now)
    return now - row.created_at


def check_receipt(
    session: Session, recipient_id: str, envelope: Envelope, trusted: Mapping[str, VerifyKey]
) -> DeliveryRow:
    """Verify a receipt and find the delivery it is for.

    Raises PacketInvalid for a bad signature, ReceiptRejected for a packet that is not the
    caller's or a digest that does not match what the hub sealed.
    """
    body = verify_receipt(envelope, trusted)
    row = session.get(DeliveryRow, str(body.packet_id))
    if row is None or row.recipient_id != recipient_id or body.recipient_id != recipient_id:
        raise ReceiptRejected("receipt names a packet that is not the caller's")
    if body.sealed_sha256 != row.sealed_sha256:
        raise ReceiptRejected("receipt digest does not match the sealed packet")
    return row


def report_deliveries(session: Session, *, report_id: str, now: datetime) -> ReportDeliveries:
    """The status of each delivery of a report. Raises NotFound for an unknown report."""
    report = session.get(ReportRow, report_id)
    if report is None:
        raise NotFound(f"no report {report_id}")
    rows = session.exec(
        select(DeliveryRow)
        .where(DeliveryRow.report_id == report_id)
        .order_by(col(DeliveryRow.recipient_id))
    ).all()
    return ReportDeliveries(
        report_id=report_id,
        source=report.source_id,
        accepted_at=report.accepted_at,
        deliveries=[_status(row, now) for row in rows],
    )


def _status(row: DeliveryRow, now: datetime) -> DeliveryStatus:
    state = DeliveryState(row.state)
    if state is DeliveryState.pending and (row.last_error or "").startswith(RECEIPT_REFUSED):
        state = DeliveryState.stuck
    elif state is DeliveryState.pending and row.lease_until is not None and row.lease_until > now:
        state = DeliveryState.leased
    elif state is DeliveryState.awaiting_reseal and not row.recipient_key_id:
        state = DeliveryState.awaiting_key
    return DeliveryStatus(
        packet_id=row.packet_id,
        recipient_id=row.recipient_id,
        rules=row.rules.split(","),
        state=state,
        created_at=row.created_at,
        lease_until=row.lease_until,
        pulls=row.pulls,
        attempts=row.attempts,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
        dead_at=row.dead_at,
        purged_at=row.purged_at,
        receipt=Envelope.model_validate_json(row.receipt) if row.receipt else None,
    )


def deliveries_in_state(
    session: Session, *, state: DeliveryState, now: datetime, limit: int
) -> list[DeliveryStatus]:
    """Deliveries in one state, oldest first (coordinators look at the dead ones)."""
    rows = session.exec(
        select(DeliveryRow)
        .where(DeliveryRow.state == state)
        .order_by(col(DeliveryRow.created_at), col(DeliveryRow.packet_id))
        .limit(limit)
    ).all()
    return [_status(row, now) for row in rows]


def redrive(
    session: Session,
    *,
    packet_ids: list[str] | None,
    now: datetime,
    actor: str = "administrator",
) -> list[str]:
    """Give dead deliveries a new retry window from `now`; all dead ones if `packet_ids` is None.

    Raises NotFound for a named packet that is not dead, or whose bytes were purged.
    """
    query = select(DeliveryRow).where(DeliveryRow.state == DeliveryState.dead)
    if packet_ids is not None:
        query = query.where(col(DeliveryRow.packet_id).in_(packet_ids))
    rows = [row for row in session.exec(query).all() if row.packet is not None]
    missing = set(packet_ids or []) - {row.packet_id for row in rows}
    if missing:
        raise NotFound(f"not dead or already purged: {', '.join(sorted(missing))}")
    for row in rows:
        row.state = DeliveryState.pending
        row.attempts = 0
        row.next_attempt_at = now
        row.window_start = now
        row.dead_at = None
        row.lease_until = None
        session.add(row)
    record_redriven(session, rows, actor, now)
    session.commit()
    redriven = [row.packet_id for row in rows]
    if redriven:
        log.info("deliveries_redriven", packet_ids=redriven)
    return redriven
