"""The hub's side of a promise of inclusion: the signed tree head that covers a report's promised
entry, and that entry's audit path in it, for `GET /v1/reports/{report_id}/inclusion`.

The head served is the first one signed over the entry (the smallest size above its index): it
is the one whose time keeps or breaks the promise's deadline (hub/audit/promise.py). Every later
head covers the entry too, since the log only grows (`hub audit verify` checks that).
"""

from __future__ import annotations

import base64
import math
from datetime import datetime

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlmodel import Session, select

from hub.audit import log as audit
from hub.audit.entry import instant
from hub.audit.promise import PromisedInclusion
from hub.errors import NotFound, NotYetCovered
from hub.store import ReportRow
from schemas.envelope import AcknowledgementBody, Envelope, InclusionPromise

__all__ = ["promised_inclusion"]


def promised_inclusion(
    session: Session,
    *,
    report_id: str,
    source_id: str | None,
    now: datetime,
    interval_seconds: float,
) -> PromisedInclusion:
    """The first signed tree head covering the entry the report's acknowledgement promised, and
    the entry's audit path in it. A source names its report by its own id; `source_id` None
    reads any source's report by the hub's key (coordinators).

    Raises NotFound for an unknown report, another source's, or one acknowledged without a
    promise (before version 3); NotYetCovered while no signed head covers the entry, saying when
    to ask again (the next signing round, `interval_seconds` at most).
    """
    query = select(ReportRow).where(
        ReportRow.report_id == report_id if source_id is not None else ReportRow.id == report_id
    )
    if source_id is not None:
        query = query.where(ReportRow.source_id == source_id)
    row = session.exec(query).first()
    if row is None:
        raise NotFound(f"no report {report_id} from {source_id or 'any source'}")
    promise = _promise_of(row)
    if promise is None:
        raise NotFound(f"report {report_id} was acknowledged without a promise of inclusion")
    heads = audit.tree_heads(session, after=promise.leaf_index, limit=1)
    if not heads:
        wait = (promise.deadline - now).total_seconds()
        retry = max(1, math.ceil(min(interval_seconds, wait) if wait > 0 else interval_seconds))
        raise NotYetCovered(
            f"no signed tree head covers entry {promise.leaf_index} yet; it is promised by "
            f"{instant(promise.deadline)}",
            retry_after=retry,
        )
    head = heads[0]
    return PromisedInclusion(
        report_id=report_id,
        tree_head=head,
        inclusion=audit.inclusion_proof(
            session, leaf_index=promise.leaf_index, size=head.tree_size
        ),
    )


class _StoredAnswer(BaseModel):
    """The part of a stored intake answer read here (hub.intake.accept.IntakeAnswer)."""

    model_config = ConfigDict(extra="ignore")

    acknowledgement: Envelope


def _promise_of(row: ReportRow) -> InclusionPromise | None:
    # The hub reads back the acknowledgement it signed and stored with the report: the promise
    # is what the source holds, so the proof is for the promised index whatever the log says.
    try:
        envelope = _StoredAnswer.model_validate_json(row.answer).acknowledgement
        body = AcknowledgementBody.model_validate_json(base64.b64decode(envelope.payload))
    except (ValidationError, ValueError):
        return None
    return body.promise
