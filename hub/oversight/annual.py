"""The annual report the network's standard S4 asks for: per line and for the network, the
reports received and how they were followed up, counted from metadata only.

A year runs from 1 January 00:00 UTC to the next 1 January; a report belongs to the year of its
intake. A report belongs to a country's line when the hub routed it to one of that country's
recipients (its section or its police); the network counts every report once. Test packets of
onboarding are left out. For each line and for the network:

- reports received, by category and by country of the incident (the two coded facts intake keeps,
  `report_facts`), by classification (the latest triage decision of the line's recipients, in the
  network's common codes) and by routing rule (the rules that chose the line's recipients);
- the processing decision (the latest triage decision of the line's recipients: forwarded, needs
  information, closed, or none yet) and the outcome (the furthest coded outcome the line's
  recipients attached: conviction, then investigation opened, then no action);
- processing time: clock hours from intake to the first triage decision of the line's recipients,
  against standard S2's limit (48 hours: weekends count), with a histogram;
- the packets for the line's recipients: delivered with a verified receipt, dead letters, in
  transit.

Nothing here reads content or returns a report id: every figure is a count or a time.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from hub.errors import InvalidInput
from hub.onboarding.member import ONBOARDING_SOURCE
from hub.oversight.feedback import Outcome
from hub.oversight.figures import NETWORK
from hub.oversight.quality import load_criteria
from hub.settings import Settings
from hub.store import (
    DeliveryRow,
    OutcomeRow,
    RecipientRow,
    ReportFactRow,
    ReportRow,
    SourceRow,
    TriageDecisionRow,
)
from schemas.report import Category

__all__ = [
    "DECISIONS",
    "FIRST_YEAR",
    "OUTCOMES",
    "UNKNOWN",
    "AnnualReport",
    "DeliveryFigures",
    "HistogramBar",
    "LineFigures",
    "ProcessingFigures",
    "annual_report",
    "member_countries",
    "processing_limit",
    "year_bounds",
]

FIRST_YEAR = 2000
UNKNOWN = "unknown"  # a report accepted before the hub kept its facts
UNCLASSIFIED = "unclassified"
NONE_YET = "none"

# The triage decisions (TriageDecisionRow.decision), then "none" for a report not yet decided.
DECISIONS = ("forward", "needs_information", "close", NONE_YET)

# The outcomes the annual report counts, furthest first, and the recipients' codes of each
# (hub/oversight/feedback.py). A report counts once, under the furthest outcome any of the line's
# recipients attached: one police desk's "no action" does not hide another's investigation.
OUTCOMES: dict[str, frozenset[Outcome]] = {
    "conviction": frozenset({Outcome.conviction}),
    "investigation_opened": frozenset({Outcome.investigation_opened}),
    "no_action": frozenset({Outcome.no_action, Outcome.closed, Outcome.no_jurisdiction}),
    "in_progress": frozenset(
        {
            Outcome.under_assessment,
            Outcome.forwarded_to_investigators,
            Outcome.more_information_needed,
        }
    ),
    NONE_YET: frozenset(),
}
_RANK = {code: rank for rank, code in enumerate(OUTCOMES)}
_HEADLINE = {code.value: headline for headline, codes in OUTCOMES.items() for code in codes}

# Upper edges of the processing-time histogram's bars, in hours (the limit is added to them).
_EDGES = (6.0, 12.0, 24.0, 48.0, 72.0, 168.0)


def year_bounds(year: int, now: datetime) -> tuple[datetime, datetime]:
    """The year's start and end in UTC. Raises InvalidInput for a year before 2000 or one that
    has not begun."""
    if not FIRST_YEAR <= year <= now.astimezone(UTC).year:
        raise InvalidInput.at(
            "year", f"give a year from {FIRST_YEAR} to {now.astimezone(UTC).year}"
        )
    return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)


def processing_limit(settings: Settings) -> float:
    """Standard S2's limit in clock hours (48 in the standards file)."""
    return load_criteria(settings.quality_criteria).get("S2").setting("max_hours")


class HistogramBar(BaseModel):
    """Reports whose first decision came after more than `above_hours` and at most `to_hours`
    (None: no upper edge)."""

    model_config = ConfigDict(extra="forbid")

    above_hours: float
    to_hours: float | None
    reports: int


class ProcessingFigures(BaseModel):
    """Clock hours from intake to the first triage decision, against S2's limit."""

    model_config = ConfigDict(extra="forbid")

    limit_hours: float
    decided: int
    within_limit: int
    share_within_limit: float | None = Field(description="within_limit / decided; None if none.")
    median_hours: float | None
    p95_hours: float | None
    undecided: int
    undecided_over_limit: int = Field(description="Not decided, and older than the limit now.")
    histogram: list[HistogramBar]


class DeliveryFigures(BaseModel):
    """The packets for a line's recipients of the year's reports."""

    model_config = ConfigDict(extra="forbid")

    packets: int
    receipts: int = Field(description="Packets delivered with a verified receipt.")
    dead_letters: int
    in_transit: int = Field(description="Pending, leased, or held for a key.")


class LineFigures(BaseModel):
    """One line's year (a member country's recipients), or the network's (`scope` "network")."""

    model_config = ConfigDict(extra="forbid")

    scope: str
    reports: int
    from_line_portal: int | None = Field(
        description="Of them, sent by the line's own portal (None for the network)."
    )
    by_category: dict[str, int]
    by_classification: dict[str, int]
    by_incident_country: dict[str, int]
    by_routing_rule: dict[str, int] = Field(
        description="Reports per rule that chose the line's recipients; a report chosen by two "
        "rules counts under each."
    )
    decisions: dict[str, int]
    outcomes: dict[str, int]
    processing: ProcessingFigures
    deliveries: DeliveryFigures


class AnnualReport(BaseModel):
    """The year's figures per line and for the network: counts and times, never content."""

    model_config = ConfigDict(extra="forbid")

    year: int
    start: AwareDatetime
    end: AwareDatetime
    generated_at: AwareDatetime
    lines: list[LineFigures]
    network: LineFigures | None = Field(description="None when one country was asked for.")


# Loading: one query per table, for the year's reports


@dataclass
class _Report:
    accepted_at: datetime
    source_country: str | None
    incident_country: str
    category: str
    countries: set[str] = field(default_factory=set)  # "network" for the coordinator
    rules: dict[str, set[str]] = field(default_factory=dict)  # per country
    decisions: list[tuple[datetime, datetime, str, str, str]] = field(default_factory=list)
    outcomes: list[tuple[str, str]] = field(default_factory=list)  # (country, code)


@dataclass(frozen=True)
class _Packet:
    country: str
    state: str


def _load(
    session: Session, start: datetime, end: datetime
) -> tuple[dict[str, _Report], list[_Packet]]:
    """The year's reports by id, with their facts, routing, decisions and outcomes, and every
    packet for them (by its recipient's country)."""
    reports: dict[str, _Report] = {}
    for row, source_country, facts in session.exec(
        select(ReportRow, SourceRow.country, ReportFactRow)
        .join(SourceRow, col(SourceRow.id) == col(ReportRow.source_id))
        .join(ReportFactRow, col(ReportFactRow.report_id) == col(ReportRow.id), isouter=True)
        .where(ReportRow.source_id != ONBOARDING_SOURCE)
        .where(ReportRow.accepted_at >= start)
        .where(ReportRow.accepted_at < end)
    ).all():
        reports[row.id] = _Report(
            accepted_at=row.accepted_at,
            source_country=source_country,
            incident_country=facts.incident_country if facts else UNKNOWN,
            category=facts.category if facts else UNKNOWN,
        )
    in_year = (col(ReportRow.accepted_at) >= start, col(ReportRow.accepted_at) < end)
    packets: list[_Packet] = []
    for report_id, rules, state, country in session.exec(
        select(DeliveryRow.report_id, DeliveryRow.rules, DeliveryRow.state, RecipientRow.country)
        .join(RecipientRow, col(RecipientRow.id) == col(DeliveryRow.recipient_id))
        .join(ReportRow, col(ReportRow.id) == col(DeliveryRow.report_id))
        .where(*in_year)
        .where(DeliveryRow.state != "superseded")
    ).all():
        report = reports.get(report_id)
        if report is None:  # an onboarding test packet
            continue
        scope = country or NETWORK
        report.countries.add(scope)
        report.rules.setdefault(scope, set()).update(r for r in rules.split(",") if r)
        packets.append(_Packet(country=scope, state=state))
    for decision, country in session.exec(
        select(TriageDecisionRow, RecipientRow.country)
        .join(RecipientRow, col(RecipientRow.id) == col(TriageDecisionRow.recipient_id))
        .join(ReportRow, col(ReportRow.id) == col(TriageDecisionRow.report_id))
        .where(*in_year)
    ).all():
        if decision.report_id in reports:
            reports[decision.report_id].decisions.append(
                (
                    decision.decided_at,
                    decision.recorded_at,
                    country or NETWORK,
                    decision.decision,
                    decision.classification,
                )
            )
    for outcome, country in session.exec(
        select(OutcomeRow, RecipientRow.country)
        .join(RecipientRow, col(RecipientRow.id) == col(OutcomeRow.recipient_id))
        .join(ReportRow, col(ReportRow.id) == col(OutcomeRow.report_id))
        .where(*in_year)
    ).all():
        if outcome.report_id in reports:
            reports[outcome.report_id].outcomes.append((country or NETWORK, outcome.outcome))
    return reports, packets


# Counting


def _ordered(counts: Counter[str], first: Iterable[str] = ()) -> dict[str, int]:
    """`first` in its order (zeros included), then the rest by count, most first, then code."""
    shown = {code: counts.get(code, 0) for code in first}
    rest = sorted((c for c in counts if c not in shown), key=lambda c: (-counts[c], c))
    return shown | {code: counts[code] for code in rest}


def _nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


def _processing(hours: list[float], waiting: list[float], limit: float) -> ProcessingFigures:
    edges = sorted({*_EDGES, limit})
    bars = [
        HistogramBar(above_hours=0.0, to_hours=edges[0], reports=sum(h <= edges[0] for h in hours))
    ]
    for low, high in zip(edges, [*edges[1:], None], strict=True):
        count = sum(low < h and (high is None or h <= high) for h in hours)
        bars.append(HistogramBar(above_hours=low, to_hours=high, reports=count))
    within = sum(h <= limit for h in hours)
    return ProcessingFigures(
        limit_hours=limit,
        decided=len(hours),
        within_limit=within,
        share_within_limit=round(within / len(hours), 4) if hours else None,
        median_hours=round(_nearest_rank(hours, 0.5), 2) if hours else None,
        p95_hours=round(_nearest_rank(hours, 0.95), 2) if hours else None,
        undecided=len(waiting),
        undecided_over_limit=sum(w > limit for w in waiting),
        histogram=bars,
    )


def _line(
    scope: str, reports: list[_Report], packets: list[_Packet], limit: float, now: datetime
) -> LineFigures:
    """The figures of one scope: a country, or NETWORK for every report and recipient."""
    network = scope == NETWORK

    def mine(country: str) -> bool:
        return network or country == scope

    categories: Counter[str] = Counter()
    classifications: Counter[str] = Counter()
    incident: Counter[str] = Counter()
    rules: Counter[str] = Counter()
    decisions: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    hours: list[float] = []
    waiting: list[float] = []
    for report in reports:
        categories[report.category] += 1
        incident[report.incident_country] += 1
        rules.update(
            {rule for country, chosen in report.rules.items() if mine(country) for rule in chosen}
        )
        decided = sorted(d for d in report.decisions if mine(d[2]))
        if decided:
            _, _, _, latest, classification = decided[-1]
            decisions[latest] += 1
            classifications[classification] += 1
            hours.append(max((decided[0][0] - report.accepted_at).total_seconds() / 3600, 0.0))
        else:
            decisions[NONE_YET] += 1
            classifications[UNCLASSIFIED] += 1
            waiting.append((now - report.accepted_at).total_seconds() / 3600)
        headlines = [_HEADLINE.get(code, NONE_YET) for c, code in report.outcomes if mine(c)]
        outcomes[min(headlines, key=_RANK.__getitem__, default=NONE_YET)] += 1
    states = Counter(p.state for p in packets if mine(p.country))
    return LineFigures(
        scope=scope,
        reports=len(reports),
        from_line_portal=None if network else sum(r.source_country == scope for r in reports),
        by_category=_ordered(categories, [c.value for c in Category]),
        by_classification=_ordered(classifications),
        by_incident_country=_ordered(incident),
        by_routing_rule=_ordered(rules),
        decisions=_ordered(decisions, DECISIONS),
        outcomes=_ordered(outcomes, OUTCOMES),
        processing=_processing(hours, waiting, limit),
        deliveries=DeliveryFigures(
            packets=sum(states.values()),
            receipts=states["delivered"],
            dead_letters=states["dead"],
            in_transit=sum(states.values()) - states["delivered"] - states["dead"],
        ),
    )


def member_countries(session: Session) -> list[str]:
    """The countries with registered recipients, in order."""
    found = session.exec(
        select(RecipientRow.country).where(col(RecipientRow.country).is_not(None)).distinct()
    ).all()
    return sorted(c for c in found if c is not None)


def annual_report(
    session: Session,
    *,
    year: int,
    now: datetime,
    limit_hours: float,
    country: str | None = None,
) -> AnnualReport:
    """The year's figures for every member country's line and the network, or for `country`'s
    line alone.

    Raises InvalidInput for a year before 2000 or not yet begun, or a country that is not a member.
    """
    start, end = year_bounds(year, now)
    members = member_countries(session)
    if country is not None and country not in members:
        raise InvalidInput.at("country", "not a member country of the network")
    reports, packets = _load(session, start, end)
    everyone = sorted(reports.values(), key=lambda r: r.accepted_at)
    lines = [
        _line(c, [r for r in everyone if c in r.countries], packets, limit_hours, now)
        for c in ([country] if country else members)
    ]
    return AnnualReport(
        year=year,
        start=start,
        end=end,
        generated_at=now,
        lines=lines,
        network=None if country else _line(NETWORK, everyone, packets, limit_hours, now),
    )
