"""The triage routes: a recipient records its decision on a report it received, and coordinators
read the processing times per country (intake to the first decision; standard S2). Who may call
each is in hub/http/authz.py's table."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query

from hub.http.deps import Coordinator, Recipient, SessionDep, StateDep
from hub.http.problems import Problem
from hub.oversight.processing import ProcessingTimes, processing_times
from hub.oversight.quality import PERIOD_PATTERN, Period, load_criteria
from hub.oversight.triage import RecordedDecision, TriageIn, codes_in_force, record_decision
from schemas.report import CountryCode

__all__ = ["router"]

router = APIRouter()

_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "The caller holds no verified receipt of the report"},
    409: {"model": Problem, "description": "Decision id used for another decision"},
}


@router.post(
    "/v1/reports/{report_id}/triage",
    status_code=201,
    response_model=RecordedDecision,
    responses=_RESPONSES,
    tags=["recipients"],
)
def triage(
    report_id: UUID, body: TriageIn, session: SessionDep, state: StateDep, caller: Recipient
) -> RecordedDecision:
    """Record the caller's triage decision (forward, needs information, close) and the report's
    classification in the network's common codes; codes and times only, never content."""
    return record_decision(
        session,
        report_id=str(report_id),
        recipient_id=caller.id,
        decision=body,
        codes=codes_in_force(state.settings.classification_codes),
        now=state.clock(),
    )


@router.get("/v1/processing-times", response_model=ProcessingTimes, tags=["coordinators"])
def processing(
    session: SessionDep,
    state: StateDep,
    _caller: Coordinator,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
    country: CountryCode | None = None,
) -> ProcessingTimes:
    """Per member country: clock hours from intake to the first triage decision, the share
    within S2's limit (48 hours; weekends and holidays count) and the 95th percentile."""
    now = state.clock()
    chosen = Period.parse(period) if period else Period.containing(now)
    limit = load_criteria(state.settings.quality_criteria).get("S2").setting("max_hours")
    return processing_times(
        session,
        start=chosen.start,
        end=chosen.end,
        now=now,
        limit_hours=limit,
        countries=[country] if country else None,
    )
