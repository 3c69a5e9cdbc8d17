"""The sources' routes: submit a report, and the reports to send again after a revocation."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from hub.delivery.rotation import reseal_requests
from hub.http.deps import SessionDep, Source, StateDep, intake_rate
from hub.http.problems import Problem
from hub.intake.accept import IntakeAnswer, accept_report
from schemas.report import Report

__all__ = ["ResealRequests", "router"]

router = APIRouter()


class ResealRequests(BaseModel):
    """Reports whose source should submit them again, unchanged, to be sealed to new keys."""

    report_ids: list[str]


@router.post(
    "/v1/reports",
    status_code=202,
    response_model=IntakeAnswer,
    responses={
        409: {"model": Problem, "description": "Report id used for other content"},
        429: {
            "model": Problem,
            "description": "Over the source's rate (HUB_INTAKE_RATE_LIMIT)",
            "headers": {
                "Retry-After": {
                    "description": "Seconds until a submission is accepted again",
                    "schema": {"type": "integer", "minimum": 1},
                }
            },
        },
        503: {
            "model": Problem,
            "description": "No routed recipient can receive it now (none has a current key)",
            "headers": {
                "Retry-After": {
                    "description": "Seconds to wait before sending it again",
                    "schema": {"type": "integer", "minimum": 1},
                }
            },
        },
    },
    dependencies=[Depends(intake_rate)],
    tags=["sources"],
)
def submit_report(
    report: Report,
    session: SessionDep,
    state: StateDep,
    caller: Source,
) -> IntakeAnswer:
    """Accept a report: route it, seal it per recipient, and acknowledge it (idempotent)."""
    answer = accept_report(
        session,
        report=report,
        caller=caller,
        policy=state.policy,
        secrets=state.secrets,
        now=state.clock(),
        promise_within=state.settings.promise_within,
    )
    state.wake_push()  # push recipients get their packets now, not at the next interval
    return answer


@router.get("/v1/reseal-requests", response_model=ResealRequests, tags=["sources"])
def reseal(session: SessionDep, caller: Source) -> ResealRequests:
    """Reports to send again unchanged: a recipient's key was revoked before delivery."""
    return ResealRequests(report_ids=reseal_requests(session, caller.id))
