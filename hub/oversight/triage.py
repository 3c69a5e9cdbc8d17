"""Triage decisions: a recipient records what it decided about a report it received.

The first receiver of a report triages it (docs/protocol.md, section 10): it forwards it, asks
the reporter for more information, or closes it, and classifies it with the network's common
codes (schemas/classification.toml, extended by the setting HUB_CLASSIFICATION_CODES). The hub
keeps codes and times only, never content. The steps of `record_decision`, in order:
1. The caller holds a verified receipt for the report: nobody decides on what it never received.
2. The codes are in the list in force, and the reason fits the decision.
3. `needs_information` only for a report whose reporter consented to contact (the one bit the
   hub keeps from a report's content, at intake).
4. The decision time lies between the caller's receipt and now, give or take the clock skew the
   hub allows a connector.
5. A decision id seen before returns the stored decision if it is the same, and is a conflict
   otherwise.
6. Store the decision and its audit entry in one transaction.

A recipient may decide more than once (needs information, then forward); the first decision on a
report ends its processing time (hub/oversight/processing.py, standard S2).
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

from sqlmodel import Session, col, select

from hub.audit.events import TriageDecided
from hub.audit.log import record
from hub.errors import ConfigurationError, Conflict, FieldError, InvalidInput, NotFound
from hub.logs import get_logger
from hub.store import DeliveryRow, ReportFeedbackRow, TriageDecisionRow, one_writer
from schemas.classification import CodeList, CodeListInvalid, Decision, load_codes
from schemas.triage import TriageAnswer, TriageRequest

__all__ = [
    "CLOCK_SKEW",
    "RecordedDecision",
    "TriageIn",
    "codes_in_force",
    "decisions_of",
    "record_decision",
]

log = get_logger(__name__)

# How far a connector's clock may be ahead of the hub's, or its decision before its receipt.
CLOCK_SKEW = timedelta(minutes=5)

# The wire models, under the names the hub's routes use.
TriageIn = TriageRequest
RecordedDecision = TriageAnswer


@functools.lru_cache(maxsize=8)
def codes_in_force(extra: Path | None) -> CodeList:
    """The shipped codes with the coordinators' file `extra`. Raises ConfigurationError."""
    try:
        return load_codes(extra)
    except CodeListInvalid as exc:
        raise ConfigurationError(str(exc)) from exc


def _answer(row: TriageDecisionRow) -> RecordedDecision:
    return RecordedDecision(
        decision_id=UUID(row.decision_id),
        report_id=UUID(row.report_id),
        recipient_id=row.recipient_id,
        decision=Decision(row.decision),
        classification=row.classification,
        reason_code=row.reason_code,
        decided_at=row.decided_at,
        recorded_at=row.recorded_at,
    )


def record_decision(
    session: Session,
    *,
    report_id: str,
    recipient_id: str,
    decision: TriageIn,
    codes: CodeList,
    now: datetime,
) -> RecordedDecision:
    """Record a recipient's triage decision (see the module's steps).

    Raises NotFound (no verified receipt of the report by the caller), InvalidInput (a code not
    in force, a reason that does not fit, needs_information without consent, a decision time
    out of bounds) or Conflict (a decision id reused for another decision). Changes nothing
    when it raises.
    """
    # 1.
    receipted = session.exec(
        select(DeliveryRow.delivered_at)
        .where(DeliveryRow.report_id == report_id)
        .where(DeliveryRow.recipient_id == recipient_id)
        .where(DeliveryRow.state == "delivered")
        .order_by(col(DeliveryRow.delivered_at))
    ).first()
    if receipted is None:
        raise NotFound(f"no verified receipt of report {report_id} by {recipient_id}")
    # 2.
    problems = [
        FieldError(field, reason)
        for field, reason in codes.problems(
            decision.decision, decision.classification, decision.reason_code
        )
    ]
    # 3.
    if decision.decision is Decision.needs_information:
        feedback = session.get(ReportFeedbackRow, report_id)
        if feedback is None or not feedback.contact_consent:
            problems.append(
                FieldError("decision", "the reporter did not consent to contact: forward or close")
            )
    # 4.
    if decision.decided_at > now + CLOCK_SKEW:
        problems.append(FieldError("decided_at", "in the future"))
    elif decision.decided_at < receipted - CLOCK_SKEW:
        problems.append(FieldError("decided_at", "before the caller received the report"))
    if problems:
        raise InvalidInput(problems)
    # 5.
    decision_id = str(decision.decision_id or uuid4())
    known = session.get(TriageDecisionRow, decision_id)
    if known is not None:
        same = (
            known.report_id == report_id
            and known.recipient_id == recipient_id
            and known.decision == decision.decision.value
            and known.classification == decision.classification
            and known.reason_code == decision.reason_code
            and known.decided_at == decision.decided_at
        )
        if not same:
            raise Conflict(f"decision {decision_id} was already recorded with other codes")
        return _answer(known)
    # 6.
    row = TriageDecisionRow(
        decision_id=decision_id,
        report_id=report_id,
        recipient_id=recipient_id,
        decision=decision.decision.value,
        classification=decision.classification,
        reason_code=decision.reason_code,
        decided_at=decision.decided_at,
        recorded_at=now,
    )
    with one_writer(session):
        session.add(row)
        record(
            session,
            TriageDecided(
                report_id=report_id,
                recipient_id=recipient_id,
                decision_id=decision_id,
                decision=decision.decision.value,
                classification=decision.classification,
                reason_code=decision.reason_code,
                decided_at=decision.decided_at,
            ),
            at=now,
        )
        session.commit()
    log.info(
        "triage_decided",
        report_id=report_id,
        recipient_id=recipient_id,
        decision_id=decision_id,
        decision=decision.decision.value,
        classification=decision.classification,
    )
    return _answer(row)


def decisions_of(session: Session, report_id: str) -> list[RecordedDecision]:
    """Every decision recorded on a report, oldest first."""
    rows = session.exec(
        select(TriageDecisionRow)
        .where(TriageDecisionRow.report_id == report_id)
        .order_by(col(TriageDecisionRow.decided_at), col(TriageDecisionRow.decision_id))
    ).all()
    return [_answer(row) for row in rows]
