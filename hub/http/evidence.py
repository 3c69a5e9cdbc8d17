"""The coordinators' evidence route: one report's evidence bundle (docs/protocol.md, section 9)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from hub.http.deps import Coordinator, SessionDep, StateDep
from hub.http.problems import Problem
from hub.oversight.evidence import export_evidence
from schemas.evidence import EvidenceBundle

__all__ = ["router"]

router = APIRouter()


@router.get(
    "/v1/reports/{report_id}/evidence",
    response_model=EvidenceBundle,
    responses={404: {"model": Problem, "description": "No such report"}},
    tags=["coordinators"],
)
def evidence(
    report_id: UUID, session: SessionDep, state: StateDep, caller: Coordinator
) -> EvidenceBundle:
    """The report's evidence bundle: acknowledgement, sealed packets, receipts, forwards and
    audit entries with proofs to a tree head signed now, and the hub's keys; never content. The
    export is recorded in the audit log."""
    return export_evidence(
        session,
        report_id=str(report_id),
        published=state.hub_keys,
        key=state.secrets.signing_key,
        now=state.clock(),
        actor=caller.id,
        role="coordinator",
        high_water=state.settings.signed_head_file,
    )
