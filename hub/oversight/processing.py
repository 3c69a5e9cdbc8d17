"""Processing time: clock hours from a report's intake to its first triage decision, per country.

The network's standard asks each line to process a report within 48 hours (standard S2). A
report's processing time in a country is the clock time from its intake (`ReportRow.accepted_at`)
to the first triage decision on it by any of that country's recipients (the country's first
receiver; hub/oversight/triage.py). Weekends and holidays count: 48 hours are not two working
days. A report not yet decided counts with its age so far, so a backlog shows before it is late.

A report counts for a country when the hub routed a copy of it to one of the country's
recipients (forwarded copies do not add a report: the forwarder's country already counts it),
in the period of its intake. Test reports of onboarding are left out. Figures per country: the
share within the limit, the 95th percentile (nearest rank, over every counted report), how many
are decided, and the ids of the late ones. Nothing here reads or returns content.
"""

from __future__ import annotations

import math
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlmodel import Session, col, select

from hub.delivery.forwarding import FORWARD_RULE
from hub.onboarding.member import ONBOARDING_SOURCE
from hub.store import DeliveryRow, RecipientRow, ReportRow, TriageDecisionRow

__all__ = [
    "CountryProcessing",
    "ProcessingTimes",
    "country_processing",
    "processing_hours",
    "processing_times",
]

_RECORDS = 50


class CountryProcessing(BaseModel):
    """One country's processing times in a period."""

    model_config = ConfigDict(extra="forbid")

    country: str
    reports: int
    decided: int
    undecided: int
    within_limit: int
    share_within_limit: float | None
    p95_hours: float | None
    late: list[str]  # report ids past the limit (decided late, or undecided and older), <= 50


class ProcessingTimes(BaseModel):
    """Processing times per member country: intake to the first triage decision."""

    model_config = ConfigDict(extra="forbid")

    start: AwareDatetime
    end: AwareDatetime
    generated_at: AwareDatetime
    limit_hours: float
    measured_to: str = "first triage decision"
    countries: list[CountryProcessing]


def processing_hours(accepted_at: datetime, decided_at: datetime) -> float:
    """Clock hours between intake and decision: every hour counts, weekends and holidays too."""
    # A connector's clock may run a little behind the hub's: never a negative time.
    return max((decided_at - accepted_at).total_seconds() / 3600, 0.0)


def _nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


def country_processing(
    session: Session,
    country: str,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    limit_hours: float,
) -> CountryProcessing:
    """The processing times of the reports routed to `country` with intake in [start, end)."""
    routed = session.exec(
        select(ReportRow.id, ReportRow.accepted_at)
        .join(DeliveryRow, col(DeliveryRow.report_id) == col(ReportRow.id))
        .join(RecipientRow, col(RecipientRow.id) == col(DeliveryRow.recipient_id))
        .where(RecipientRow.country == country)
        .where(DeliveryRow.rules != FORWARD_RULE)
        .where(DeliveryRow.state != "superseded")
        .where(ReportRow.source_id != ONBOARDING_SOURCE)
        .where(ReportRow.accepted_at >= start)
        .where(ReportRow.accepted_at < end)
        .distinct()
    ).all()
    intake = dict(routed)
    first: dict[str, datetime] = {}
    if intake:
        decided = session.exec(
            select(TriageDecisionRow.report_id, TriageDecisionRow.decided_at)
            .join(RecipientRow, col(RecipientRow.id) == col(TriageDecisionRow.recipient_id))
            .where(RecipientRow.country == country)
            .where(col(TriageDecisionRow.report_id).in_(list(intake)))
        ).all()
        for report_id, at in decided:
            if report_id not in first or at < first[report_id]:
                first[report_id] = at
    hours = {
        report_id: processing_hours(accepted, first.get(report_id, now))
        for report_id, accepted in intake.items()
    }
    late = sorted((r for r, h in hours.items() if h > limit_hours), key=lambda r: -hours[r])
    within = len(hours) - len(late)
    return CountryProcessing(
        country=country,
        reports=len(hours),
        decided=len(first),
        undecided=len(hours) - len(first),
        within_limit=within,
        share_within_limit=round(within / len(hours), 4) if hours else None,
        p95_hours=round(_nearest_rank(list(hours.values()), 0.95), 3) if hours else None,
        late=late[:_RECORDS],
    )


def processing_times(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    limit_hours: float,
    countries: list[str] | None = None,
) -> ProcessingTimes:
    """Processing times for each member country (or the ones named) with intake in [start, end)."""
    members = countries or sorted(
        c for c in session.exec(select(RecipientRow.country).distinct()).all() if c is not None
    )
    return ProcessingTimes(
        start=start,
        end=end,
        generated_at=now,
        limit_hours=limit_hours,
        countries=[
            country_processing(
                session, country, start=start, end=end, now=now, limit_hours=limit_hours
            )
            for country in members
        ],
    )
