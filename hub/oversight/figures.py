"""Delivery figures for coordinators: per country and state, the late and dead ones, latency.

Every figure counts deliveries of real reports: test packets of onboarding (source
`hub-onboarding`) are left out. A delivery belongs to its recipient's country; the coordinator,
which has none, is shown as the network. Nothing here reads or returns content.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlmodel import Session, col, select

from connectors.countries.profiles import Profiles
from connectors.countries.workdays import working_days_between
from connectors.errors import ConnectorError
from hub.delivery.state import DeliveryState
from hub.network.profiles import hub_profiles
from hub.onboarding.member import ONBOARDING_SOURCE
from hub.store import DeliveryRow, RecipientRow, ReportRow

__all__ = [
    "NETWORK",
    "CountryDeliveries",
    "CountryLatency",
    "DeliverySummary",
    "LatencyPoint",
    "LatencySeries",
    "OpenDelivery",
    "delivery_summary",
    "latency_series",
    "open_deliveries",
]

NETWORK = "network"  # the "country" of recipients without one: the coordinator
STATES = [s.value for s in DeliveryState]
_UNDELIVERED = (DeliveryState.pending, DeliveryState.awaiting_reseal)


class CountryDeliveries(BaseModel):
    """How many of a country's deliveries are in each state, and how many are late."""

    model_config = ConfigDict(extra="forbid")

    country: str
    states: dict[str, int]
    total: int
    late: int


class DeliverySummary(BaseModel):
    """Deliveries per country and state."""

    model_config = ConfigDict(extra="forbid")

    generated_at: AwareDatetime
    late_after_working_days: float
    countries: list[CountryDeliveries]


class OpenDelivery(BaseModel):
    """A delivery that is late or dead: what a coordinator needs to act, never content."""

    model_config = ConfigDict(extra="forbid")

    packet_id: str
    report_id: str
    recipient_id: str
    country: str
    kind: str
    state: str
    created_at: AwareDatetime
    age_working_days: float
    pulls: int
    attempts: int
    last_error: str | None
    dead_at: AwareDatetime | None
    can_redrive: bool


class LatencyPoint(BaseModel):
    """One day's deliveries of a country: how many were receipted, and how fast."""

    model_config = ConfigDict(extra="forbid")

    day: date
    delivered: int
    median_hours: float
    p95_hours: float


class CountryLatency(BaseModel):
    """A country's latency over time."""

    model_config = ConfigDict(extra="forbid")

    country: str
    points: list[LatencyPoint]


class LatencySeries(BaseModel):
    """Time from intake to verified receipt, per country and day of intake."""

    model_config = ConfigDict(extra="forbid")

    start: date
    end: date
    countries: list[CountryLatency]


def _country(value: str | None) -> str:
    return value or NETWORK


def _age(country: str, start: datetime, now: datetime, profiles: Profiles) -> float:
    """Working days in the country's calendar, the shipped or the registered profile's."""
    code = country if country != NETWORK else "INT"
    try:
        return working_days_between(code, start, now, profiles=profiles)
    except ConnectorError:  # no calendar known: weekdays in UTC
        return working_days_between("INT", start, now, profiles=profiles)


def _rows(session: Session) -> list[tuple[DeliveryRow, str | None, str]]:
    rows = session.exec(
        select(DeliveryRow, RecipientRow.country, RecipientRow.kind)
        .join(RecipientRow, col(RecipientRow.id) == col(DeliveryRow.recipient_id))
        .join(ReportRow, col(ReportRow.id) == col(DeliveryRow.report_id))
        .where(ReportRow.source_id != ONBOARDING_SOURCE)
        .order_by(col(DeliveryRow.created_at), col(DeliveryRow.packet_id))
    ).all()
    return list(rows)


def _is_late(
    row: DeliveryRow, country: str, now: datetime, after: float, profiles: Profiles
) -> bool:
    return row.state in _UNDELIVERED and _age(country, row.created_at, now, profiles) > after


def delivery_summary(session: Session, *, now: datetime, late_after: float) -> DeliverySummary:
    """Deliveries per country and state (`leased`: pending with a lease or claim running), and
    how many are late: undelivered for more than `late_after` working days of the country."""
    counts: dict[str, dict[str, int]] = {}
    late: dict[str, int] = {}
    profiles = hub_profiles(session)
    for row, country_code, _kind in _rows(session):
        country = _country(country_code)
        state = row.state
        if state == DeliveryState.pending and row.lease_until is not None and row.lease_until > now:
            state = DeliveryState.leased
        counts.setdefault(country, dict.fromkeys(STATES, 0))[state] += 1
        late[country] = late.get(country, 0) + _is_late(row, country, now, late_after, profiles)
    return DeliverySummary(
        generated_at=now,
        late_after_working_days=late_after,
        countries=[
            CountryDeliveries(
                country=country,
                states=states,
                total=sum(states.values()),
                late=late.get(country, 0),
            )
            for country, states in sorted(counts.items(), key=lambda c: (c[0] == NETWORK, c[0]))
        ],
    )


def open_deliveries(
    session: Session, *, now: datetime, late_after: float, limit: int = 500
) -> list[OpenDelivery]:
    """The late deliveries and the dead letters, oldest first."""
    found = []
    profiles = hub_profiles(session)
    for row, country_code, kind in _rows(session):
        country = _country(country_code)
        if row.state != DeliveryState.dead and not _is_late(
            row, country, now, late_after, profiles
        ):
            continue
        found.append(
            OpenDelivery(
                packet_id=row.packet_id,
                report_id=row.report_id,
                recipient_id=row.recipient_id,
                country=country,
                kind=kind,
                state=row.state,
                created_at=row.created_at,
                age_working_days=round(_age(country, row.created_at, now, profiles), 2),
                pulls=row.pulls,
                attempts=row.attempts,
                last_error=row.last_error,
                dead_at=row.dead_at,
                can_redrive=row.state == DeliveryState.dead and row.packet is not None,
            )
        )
        if len(found) >= limit:
            break
    return found


def _nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


def latency_series(session: Session, *, now: datetime, days: int = 30) -> LatencySeries:
    """Median and 95th percentile of intake-to-receipt hours, per country and day of intake,
    for the last `days` days."""
    end = now.date()
    start = end - timedelta(days=days - 1)
    since = datetime.combine(start, datetime.min.time(), tzinfo=now.tzinfo)
    rows = session.exec(
        select(DeliveryRow.created_at, DeliveryRow.delivered_at, RecipientRow.country)
        .join(RecipientRow, col(RecipientRow.id) == col(DeliveryRow.recipient_id))
        .join(ReportRow, col(ReportRow.id) == col(DeliveryRow.report_id))
        .where(ReportRow.source_id != ONBOARDING_SOURCE)
        .where(DeliveryRow.state == DeliveryState.delivered)
        .where(DeliveryRow.created_at >= since)
    ).all()
    hours: dict[str, dict[date, list[float]]] = {}
    for created, delivered, country in rows:
        assert delivered is not None  # a delivered row has its receipt time
        per_day = hours.setdefault(_country(country), {})
        per_day.setdefault(created.date(), []).append((delivered - created).total_seconds() / 3600)
    return LatencySeries(
        start=start,
        end=end,
        countries=[
            CountryLatency(
                country=country,
                points=[
                    LatencyPoint(
                        day=day,
                        delivered=len(values),
                        median_hours=round(_nearest_rank(values, 0.5), 3),
                        p95_hours=round(_nearest_rank(values, 0.95), 3),
                    )
                    for day, values in sorted(per_day.items())
                ],
            )
            for country, per_day in sorted(hours.items(), key=lambda c: (c[0] == NETWORK, c[0]))
        ],
    )
