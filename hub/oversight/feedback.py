"""Feedback to the reporter: a source sees where its own report arrived, and what came of it.

A source portal asks for the status of a report it sent (`report_status`): which kinds of
recipient in which countries hold a verified receipt, and when, and the coded outcome each
recipient attached (`record_outcome`). Never content, never recipient ids or credentials. So a
portal can tell a reporter who asked for feedback that the report reached the police.

At intake the hub keeps one bit of the report besides its routing: whether the reporter consented to
be contacted (`note_report` in hub/intake/accept.py). Standard S11 counts those reports whose source
has seen a status with at least one verified receipt (`status_seen_at`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, cast

from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlmodel import Session, col, select

from hub.audit.events import OutcomeRecorded, StatusSeen
from hub.audit.log import record
from hub.errors import NotFound
from hub.store import DeliveryRow, OutcomeRow, RecipientRow, ReportFeedbackRow, ReportRow

__all__ = [
    "Outcome",
    "OutcomeIn",
    "RecipientStatus",
    "RecordedOutcome",
    "ReportStatus",
    "record_outcome",
    "report_status",
]


class Outcome(StrEnum):
    """What a recipient did with a report, as a code (never free text: it could carry content)."""

    under_assessment = "under_assessment"
    forwarded_to_investigators = "forwarded_to_investigators"
    more_information_needed = "more_information_needed"
    no_jurisdiction = "no_jurisdiction"
    closed = "closed"
    # What the police made of it, as the annual report counts it (S4, hub/oversight/annual.py).
    investigation_opened = "investigation_opened"
    conviction = "conviction"
    no_action = "no_action"


class OutcomeIn(BaseModel):
    """A recipient's outcome for a report it received."""

    model_config = ConfigDict(extra="forbid")

    outcome: Outcome


class RecordedOutcome(BaseModel):
    """The outcome as the hub recorded it."""

    model_config = ConfigDict(extra="forbid")

    report_id: str
    outcome: Outcome
    recorded_at: AwareDatetime


class RecipientStatus(BaseModel):
    """One recipient of the report, named only by its kind and country."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["section", "police", "coordinator"]
    country: str | None
    state: Literal["received", "in_transit"]
    received_at: AwareDatetime | None
    outcome: Outcome | None
    outcome_at: AwareDatetime | None


class ReportStatus(BaseModel):
    """Where a report arrived: what its source may tell the reporter."""

    model_config = ConfigDict(extra="forbid")

    report_id: str
    accepted_at: AwareDatetime
    reached_police: bool
    recipients: list[RecipientStatus]


def report_status(
    session: Session, *, report_id: str, source_id: str, now: datetime
) -> ReportStatus:
    """The status of one of the source's own reports; remembers that the source saw it.

    Raises NotFound for an unknown report or one another source sent.
    """
    report = session.get(ReportRow, report_id)
    if report is None or report.source_id != source_id:
        raise NotFound(f"no report {report_id} from {source_id}")
    outcomes = {
        row.recipient_id: row
        for row in session.exec(select(OutcomeRow).where(OutcomeRow.report_id == report_id)).all()
    }
    statuses = []
    newest: datetime | None = None
    for delivery, recipient in session.exec(
        select(DeliveryRow, RecipientRow)
        .join(RecipientRow, col(RecipientRow.id) == col(DeliveryRow.recipient_id))
        .where(DeliveryRow.report_id == report_id)
        .where(DeliveryRow.state != "superseded")
        .order_by(col(RecipientRow.country), col(RecipientRow.kind))
    ).all():
        outcome = outcomes.get(recipient.id)
        received = delivery.state == "delivered"
        statuses.append(
            RecipientStatus(
                kind=cast(Any, recipient.kind),
                country=recipient.country,
                state="received" if received else "in_transit",
                received_at=delivery.delivered_at if received else None,
                outcome=Outcome(outcome.outcome) if outcome else None,
                outcome_at=outcome.recorded_at if outcome else None,
            )
        )
        times = [delivery.delivered_at if received else None]
        times.append(outcome.recorded_at if outcome else None)
        for at in times:
            if at is not None and (newest is None or at > newest):
                newest = at
    _note_seen(session, report_id, source_id, statuses, newest, now)
    return ReportStatus(
        report_id=report_id,
        accepted_at=report.accepted_at,
        reached_police=any(s.kind == "police" and s.state == "received" for s in statuses),
        recipients=statuses,
    )


def _note_seen(
    session: Session,
    report_id: str,
    source_id: str,
    statuses: list[RecipientStatus],
    newest: datetime | None,
    now: datetime,
) -> None:
    """Record a status update the source had not seen yet (a receipt or an outcome)."""
    if newest is None:
        return
    row = session.get(ReportFeedbackRow, report_id)
    if row is None:  # a report accepted before the hub kept feedback
        row = ReportFeedbackRow(report_id=report_id, contact_consent=False)
    if row.last_status_at is not None and row.last_status_at >= newest:
        return
    row.status_seen_at = row.status_seen_at or now
    row.last_status_at = newest
    session.add(row)
    record(
        session,
        StatusSeen(
            report_id=report_id,
            source_id=source_id,
            receipts=sum(s.state == "received" for s in statuses),
            outcomes=sum(s.outcome is not None for s in statuses),
        ),
        at=now,
    )
    session.commit()


def record_outcome(
    session: Session, *, report_id: str, recipient_id: str, outcome: Outcome, now: datetime
) -> RecordedOutcome:
    """Attach a recipient's coded outcome to a report it holds a verified receipt for.

    A later outcome replaces an earlier one (the audit log keeps both). Raises NotFound if the
    recipient has no receipted packet of that report.
    """
    receipted = session.exec(
        select(DeliveryRow.packet_id)
        .where(DeliveryRow.report_id == report_id)
        .where(DeliveryRow.recipient_id == recipient_id)
        .where(DeliveryRow.state == "delivered")
    ).first()
    if receipted is None:
        raise NotFound(f"no receipted packet of report {report_id} for {recipient_id}")
    row = session.get(OutcomeRow, (report_id, recipient_id))
    if row is None:
        row = OutcomeRow(report_id=report_id, recipient_id=recipient_id, outcome=outcome)
    row.outcome = outcome
    row.recorded_at = now
    session.add(row)
    record(
        session,
        OutcomeRecorded(report_id=report_id, recipient_id=recipient_id, outcome=outcome.value),
        at=now,
    )
    session.commit()
    return RecordedOutcome(report_id=report_id, outcome=outcome, recorded_at=now)
