"""The forwarding routes: a recipient passes a report it received on, and records its deletion.

The hub never reads a forward: it checks who signed it, that the forwarder received the report
and where it goes, then delivers it as a packet (hub/delivery/forwarding.py).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter

from hub.delivery.forwarding import (
    accept_forward,
    forward_targets,
    hub_verify_keys,
    record_copy_deleted,
)
from hub.http.deps import OfSource, Recipient, SessionDep, StateDep
from hub.http.problems import Problem
from schemas.commitment import (
    CopyDeletion,
    CopyDeletionAnswer,
    ForwardAnswer,
    ForwardRequest,
    ForwardTargets,
)

__all__ = ["router"]

router = APIRouter()

_NOT_RECEIVED: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "The caller never received the report"}
}


@router.get("/v1/forward-targets", response_model=ForwardTargets, tags=["recipients"])
def targets(session: SessionDep, state: StateDep, caller: Recipient) -> ForwardTargets:
    """The sections and police desks a report can be forwarded to, with their sealing keys."""
    return forward_targets(session, state.clock())


@router.post(
    "/v1/forwards",
    status_code=202,
    response_model=ForwardAnswer,
    responses={
        **_NOT_RECEIVED,
        409: {"model": Problem, "description": "Forward id used for another forward"},
    },
    tags=["recipients"],
)
def forward(
    request: ForwardRequest, session: SessionDep, state: StateDep, caller: Recipient
) -> ForwardAnswer:
    """Deliver a signed, sealed forward of a report the caller received (idempotent)."""
    answer = accept_forward(
        session,
        caller_id=caller.id,
        request=request,
        secrets=state.secrets,
        hub_keys=hub_verify_keys(state.hub_keys),
        now=state.clock(),
    )
    state.wake_push()
    return answer


@router.post(
    "/v1/reports/{report_id}/deletion",
    response_model=CopyDeletionAnswer,
    responses=_NOT_RECEIVED,
    tags=["recipients"],
)
def deletion(
    report_id: UUID,
    body: CopyDeletion,
    session: SessionDep,
    state: StateDep,
    caller: Recipient,
    source: OfSource = None,
) -> CopyDeletionAnswer:
    """Record that the caller deleted its copy of a report it received (audited)."""
    return record_copy_deleted(
        session,
        caller_id=caller.id,
        report_id=str(report_id),
        deletion=body,
        now=state.clock(),
        source_id=source,
    )
