"""HTTP routes for oversight: the audit log and its proofs, compliance with the quality criteria,
delivery figures, feedback to sources, and the annual report. Who may call each is in
hub/http/authz.py's table."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from hub.audit import log as audit
from hub.audit.inclusion import promised_inclusion
from hub.audit.log import AuditCheck, AuditEntry, ConsistencyProof, InclusionProof, SignedTreeHead
from hub.audit.promise import PromisedInclusion
from hub.errors import Forbidden, NotFound
from hub.http.authz import Party, party_of
from hub.http.deps import Caller, OfSource, SessionDep, StateDep
from hub.http.problems import Problem
from hub.oversight.annual import AnnualReport, annual_report, processing_limit
from hub.oversight.compliance import ComplianceReport, compliance_report, judge_for, late_after
from hub.oversight.feedback import (
    OutcomeIn,
    RecordedOutcome,
    ReportStatus,
    record_outcome,
    report_status,
)
from hub.oversight.figures import (
    DeliverySummary,
    LatencySeries,
    OpenDelivery,
    delivery_summary,
    latency_series,
    open_deliveries,
)
from hub.oversight.quality import (
    PERIOD_PATTERN,
    Declaration,
    DeclarationIn,
    Period,
    declare,
)
from hub.store import RecipientRow
from schemas.report import CountryCode

__all__ = ["router"]

router = APIRouter()

_MAX_INDEX = 2**31 - 1  # leaf indices and tree sizes are 32-bit integers in the database

_NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {"model": Problem, "description": "No such entry, tree, report or delivery"}
}


# The audit log


@router.get(
    "/v1/audit/tree-head", response_model=SignedTreeHead, responses=_NOT_FOUND, tags=["audit"]
)
def tree_head(session: SessionDep, _caller: Caller) -> SignedTreeHead:
    """The newest tree head the hub signed: the log's size and Merkle root (RFC 6962)."""
    head = audit.latest_tree_head(session)
    if head is None:
        raise NotFound("the hub has not signed a tree head yet")
    return head


@router.get("/v1/audit/tree-heads", response_model=list[SignedTreeHead], tags=["audit"])
def tree_heads(
    session: SessionDep,
    _caller: Caller,
    after: Annotated[int, Query(ge=-1, le=_MAX_INDEX)] = -1,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[SignedTreeHead]:
    """Signed tree heads larger than `after`, smallest first."""
    return audit.tree_heads(session, after=after, limit=limit)


@router.get("/v1/audit/entries", response_model=list[AuditEntry], tags=["audit"])
def entries(
    session: SessionDep,
    _caller: Caller,
    start: Annotated[int, Query(ge=0, le=_MAX_INDEX)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    report_id: UUID | None = None,
) -> list[AuditEntry]:
    """Entries from index `start` on, or every entry of one report: ids, kinds, times, states,
    key ids and receipts; never content."""
    return audit.entries(
        session, start=start, limit=limit, report_id=str(report_id) if report_id else None
    )


@router.get(
    "/v1/audit/proof/inclusion",
    response_model=InclusionProof,
    responses=_NOT_FOUND,
    tags=["audit"],
)
def inclusion(
    session: SessionDep,
    _caller: Caller,
    leaf_index: Annotated[int, Query(ge=0, le=_MAX_INDEX)],
    tree_size: Annotated[int | None, Query(ge=1, le=_MAX_INDEX)] = None,
) -> InclusionProof:
    """The audit path of one entry in a tree (by default the newest signed one)."""
    return audit.inclusion_proof(session, leaf_index=leaf_index, size=tree_size)


@router.get(
    "/v1/audit/proof/consistency",
    response_model=ConsistencyProof,
    responses=_NOT_FOUND,
    tags=["audit"],
)
def consistency(
    session: SessionDep,
    _caller: Caller,
    first: Annotated[int, Query(ge=0, le=_MAX_INDEX)],
    second: Annotated[int | None, Query(ge=0, le=_MAX_INDEX)] = None,
) -> ConsistencyProof:
    """The proof that the tree of `first` entries is a prefix of the tree of `second` (by
    default the newest signed one)."""
    return audit.consistency_proof(session, first=first, second=second)


@router.get(
    "/v1/reports/{report_id}/inclusion",
    response_model=PromisedInclusion,
    responses={
        404: {
            "model": Problem,
            "description": "No such report of the caller's, none with a promise, or no signed "
            "tree head covers its entry yet: then Retry-After says when to ask again",
            "headers": {
                "Retry-After": {
                    "description": "Seconds until a signed tree head may cover the entry (only "
                    "while it is not yet covered)",
                    "schema": {"type": "integer", "minimum": 1},
                }
            },
        }
    },
    tags=["audit"],
)
def inclusion_of_report(
    report_id: UUID, session: SessionDep, state: StateDep, caller: Caller
) -> PromisedInclusion:
    """The first signed tree head covering the audit entry that the report's acknowledgement
    promised, and the entry's audit path in it: what `hub audit verify-promise` checks
    (docs/audit.md, "Verifying a promise of inclusion"). For the report's source, and
    coordinators."""
    return promised_inclusion(
        session,
        report_id=str(report_id),
        source_id=None if party_of(caller) is Party.coordinator else caller.id,
        now=state.clock(),
        interval_seconds=state.settings.audit_interval_seconds,
    )


@router.get(
    "/v1/audit/verification", response_model=AuditCheck, responses=_NOT_FOUND, tags=["audit"]
)
def verification(session: SessionDep, _caller: Caller) -> AuditCheck:
    """The outcome of the newest verification of the whole log."""
    check = audit.last_check(session)
    if check is None:
        raise NotFound("the log has not been verified yet")
    return check


# Quality


@router.get("/v1/compliance", response_model=ComplianceReport, tags=["quality"])
def compliance(
    session: SessionDep,
    state: StateDep,
    _caller: Caller,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
    country: CountryCode | None = None,
) -> ComplianceReport:
    """Per member country and criterion: met, not met or unknown, with the evidence. The period
    is a year, a quarter or a month (default: the current quarter)."""
    now = state.clock()
    return compliance_report(
        session,
        period=Period.parse(period) if period else Period.containing(now),
        now=now,
        judge=judge_for(state.settings, state.hub_keys),
        countries=[country] if country else None,
    )


@router.post("/v1/declarations", status_code=201, response_model=Declaration, tags=["quality"])
def declaration(
    body: DeclarationIn, session: SessionDep, state: StateDep, caller: Caller
) -> Declaration:
    """A section declares, for its own country, a criterion it meets (dated, with evidence)."""
    country = _country_of(session, caller.id)
    return declare(
        session, country=country, declaration=body, declared_by=caller.id, now=state.clock()
    )


def _country_of(session: SessionDep, recipient_id: str) -> str:
    row = session.get(RecipientRow, recipient_id)
    if row is None or row.country is None:
        raise Forbidden("only a member country's section declares criteria")
    return row.country


# Delivery figures


@router.get("/v1/deliveries/summary", response_model=DeliverySummary, tags=["coordinators"])
def summary(session: SessionDep, state: StateDep, _caller: Caller) -> DeliverySummary:
    """Deliveries per country and state, and how many are late (S2's 48 hours, as days)."""
    return delivery_summary(session, now=state.clock(), late_after=late_after(state.settings))


@router.get("/v1/deliveries/open", response_model=list[OpenDelivery], tags=["coordinators"])
def late_and_dead(
    session: SessionDep,
    state: StateDep,
    _caller: Caller,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[OpenDelivery]:
    """The late deliveries and the dead letters, oldest first."""
    return open_deliveries(
        session, now=state.clock(), late_after=late_after(state.settings), limit=limit
    )


@router.get("/v1/deliveries/latency", response_model=LatencySeries, tags=["coordinators"])
def latency(
    session: SessionDep,
    state: StateDep,
    _caller: Caller,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> LatencySeries:
    """Hours from intake to verified receipt, median and 95th percentile, per country and day."""
    return latency_series(session, now=state.clock(), days=days)


# Feedback


@router.get(
    "/v1/reports/{report_id}/status",
    response_model=ReportStatus,
    responses=_NOT_FOUND,
    tags=["sources"],
)
def status(report_id: UUID, session: SessionDep, state: StateDep, caller: Caller) -> ReportStatus:
    """Where one of the caller's own reports arrived: kinds of recipient and countries holding a
    verified receipt, when, and their coded outcomes. Never content."""
    return report_status(session, report_id=str(report_id), source_id=caller.id, now=state.clock())


@router.post(
    "/v1/reports/{report_id}/outcome",
    response_model=RecordedOutcome,
    responses=_NOT_FOUND,
    tags=["recipients"],
)
def outcome(
    report_id: UUID,
    body: OutcomeIn,
    session: SessionDep,
    state: StateDep,
    caller: Caller,
    source: OfSource = None,
) -> RecordedOutcome:
    """Attach a coded outcome to a report the caller holds a verified receipt for; its source
    sees it in the report's status."""
    return record_outcome(
        session,
        report_id=str(report_id),
        recipient_id=caller.id,
        outcome=body.outcome,
        now=state.clock(),
        source_id=source,
    )


# The annual report (standard S4)


@router.get(
    "/v1/reports/annual",
    response_model=AnnualReport,
    responses={422: {"model": Problem, "description": "A year not begun, or not a member"}},
    tags=["coordinators"],
)
def annual(
    session: SessionDep,
    state: StateDep,
    _caller: Caller,
    year: int | None = None,
    country: CountryCode | None = None,
) -> AnnualReport:
    """Per member country's line and for the network: the year's reports by category,
    classification, country of the incident and routing rule; decisions and outcomes; hours from
    intake to the first decision against 48; packets, receipts and dead letters. Counts only:
    no content, no report id. The year defaults to the current one (UTC)."""
    now = state.clock()
    return annual_report(
        session,
        year=now.year if year is None else year,
        now=now,
        limit_hours=processing_limit(state.settings),
        country=country,
    )
