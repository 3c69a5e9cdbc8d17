"""Judging the network's standards (S1-S12) and the hub's network operations (N1-N3), per member
country and period, with the evidence, the source and the kind of threshold for each verdict.

A verdict is `met`, `not_met` or `unknown` (no declaration, or no data in the period). Declared
criteria show the declaration and its date; measured ones show their figures and the ids of the
records they were computed from (those that count against first). Test packets of onboarding
(source `hub-onboarding`) are left out of every figure. Figures are as of the report's time for
the current period, and as of now for past ones (a packet still undelivered counts as such).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from nacl.signing import VerifyKey
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session, col, select

from connectors.countries.profiles import Profile, Profiles
from connectors.errors import ConnectorError
from hub.audit.verify import trusted_hub_keys
from hub.crypto import verify_acknowledgement
from hub.errors import PacketInvalid
from hub.network.profiles import calendar_name, hub_profiles
from hub.onboarding.member import ONBOARDING_SOURCE
from hub.oversight.processing import country_processing
from hub.oversight.quality import (
    Criteria,
    Criterion,
    Declaration,
    Period,
    declarations_for,
    expired_for,
    expires_on,
    load_criteria,
)
from hub.settings import Settings
from hub.store import (
    AuditEntryRow,
    DeliveryRow,
    RecipientKeyRow,
    RecipientRow,
    ReportFeedbackRow,
    ReportRow,
    SourceRow,
)
from schemas.envelope import Envelope, PublishedHubKeys

__all__ = [
    "ComplianceReport",
    "CountryProfile",
    "CountryScorecard",
    "CriterionVerdict",
    "Evidence",
    "Judge",
    "Verdict",
    "compliance_report",
    "judge_for",
    "late_after",
]

Figure = float | int | str | None
_RECORDS = 50


class Verdict(StrEnum):
    met = "met"
    not_met = "not_met"
    unknown = "unknown"


class Evidence(BaseModel):
    """What a verdict rests on: a declaration, or figures and the records behind them."""

    model_config = ConfigDict(extra="forbid")

    summary: str
    figures: dict[str, Figure] = {}
    declaration: Declaration | None = None
    records: list[str] = []


class CriterionVerdict(BaseModel):
    """One criterion judged for one country."""

    model_config = ConfigDict(extra="forbid")

    criterion: str
    group: str
    source: str
    statement: str
    judged: str
    threshold: str
    threshold_kind: str
    verdict: Verdict
    evidence: Evidence


class CountryProfile(BaseModel):
    """What the country's profile (registered by the member, or shipped) says the hub judges by."""

    model_config = ConfigDict(extra="forbid")

    profile: str = Field(description="The profile's code, or 'unknown' without a profile.")
    languages: list[str] = Field(description="National languages first, then English.")
    timezone: str
    calendar: str = Field(description="The holidays calendar (FR, DE-HE), 'weekends only'.")

    @classmethod
    def of(cls, profile: Profile | None) -> CountryProfile:
        """The summary of a profile; every field 'unknown' without one."""
        if profile is None:
            return cls(profile="unknown", languages=[], timezone="unknown", calendar="unknown")
        return cls(
            profile=profile.code,
            languages=list(profile.languages),
            timezone=profile.timezone,
            calendar=calendar_name(profile) or "weekends only",
        )


class CountryScorecard(BaseModel):
    """Every criterion for one member country."""

    model_config = ConfigDict(extra="forbid")

    country: str
    profile: CountryProfile
    met: int
    not_met: int
    unknown: int
    verdicts: list[CriterionVerdict]
    expired_declarations: list[str] = []


class ComplianceReport(BaseModel):
    """The scorecards of the network for one period."""

    model_config = ConfigDict(extra="forbid")

    period: str
    start: AwareDatetime
    end: AwareDatetime
    generated_at: AwareDatetime
    countries: list[CountryScorecard]


@dataclass(frozen=True)
class _Delivery:
    packet_id: str
    report_id: str
    recipient_id: str
    kind: str
    state: str
    created_at: datetime
    delivered_at: datetime | None
    dead_at: datetime | None
    purged_at: datetime | None
    pulls: int
    attempts: int


@dataclass(frozen=True)
class _Report:
    report_id: str
    answer: str
    contact_consent: bool | None
    status_seen_at: datetime | None


@dataclass(frozen=True)
class Judge:
    """What judging needs besides the database: the criteria, the hub's retention settings and
    signing keys, and the countries' calendars (default: hub_profiles, the shipped and the
    registered profiles)."""

    criteria: Criteria
    retention: timedelta
    dead_retention: timedelta
    purge_interval: timedelta
    hub_keys: Mapping[str, VerifyKey]
    profiles: Profiles | None = None


def judge_for(settings: Settings, published: PublishedHubKeys) -> Judge:
    """What compliance needs from the settings and the hub's keys."""
    keys: dict[str, VerifyKey] = trusted_hub_keys(published, None)
    return Judge(
        criteria=load_criteria(settings.quality_criteria),
        retention=timedelta(seconds=settings.retention_seconds),
        dead_retention=timedelta(seconds=settings.dead_retention_seconds),
        purge_interval=timedelta(seconds=settings.purge_interval_seconds),
        hub_keys=keys,
    )


def late_after(settings: Settings) -> float:
    """Days after which an undelivered packet is late: S2's 48 hours, as days."""
    return load_criteria(settings.quality_criteria).get("S2").setting("max_hours") / 24


def compliance_report(
    session: Session,
    *,
    period: Period,
    now: datetime,
    judge: Judge,
    countries: list[str] | None = None,
) -> ComplianceReport:
    """Judge every criterion for each member country (or the ones named) in `period`."""
    members = countries or sorted(
        c for c in session.exec(select(RecipientRow.country).distinct()).all() if c is not None
    )
    profiles = judge.profiles or hub_profiles(session)
    judge = replace(judge, profiles=profiles)
    scorecards = []
    for country in members:
        verdicts = _Country(session, country, period, now, judge).verdicts()
        scorecards.append(
            CountryScorecard(
                country=country,
                profile=CountryProfile.of(_profile_of(profiles, country)),
                met=sum(v.verdict is Verdict.met for v in verdicts),
                not_met=sum(v.verdict is Verdict.not_met for v in verdicts),
                unknown=sum(v.verdict is Verdict.unknown for v in verdicts),
                verdicts=verdicts,
                expired_declarations=expired_for(session, country),
            )
        )
    return ComplianceReport(
        period=period.name,
        start=period.start,
        end=period.end,
        generated_at=now,
        countries=scorecards,
    )


def _profile_of(profiles: Profiles, country: str) -> Profile | None:
    try:
        return profiles.get(country)
    except ConnectorError:
        return None


def _share(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def _pct(share: float | None) -> str:
    return "n/a" if share is None else f"{share * 100:.1f} %"


def _nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


class _Country:
    """The records of one country in one period, and a method per criterion."""

    def __init__(
        self, session: Session, country: str, period: Period, now: datetime, judge: Judge
    ) -> None:
        self.session, self.country, self.period, self.judge = session, country, period, judge
        self.now = now
        self.as_of = min(now, period.end)
        self.declared = declarations_for(session, country, on=self.as_of.date())
        self.deliveries = self._deliveries()
        self.reports = self._reports()

    def _deliveries(self) -> list[_Delivery]:
        rows = self.session.exec(
            select(DeliveryRow, RecipientRow.kind, ReportRow.source_id)
            .join(RecipientRow, col(RecipientRow.id) == col(DeliveryRow.recipient_id))
            .join(ReportRow, col(ReportRow.id) == col(DeliveryRow.report_id))
            .where(RecipientRow.country == self.country)
            .where(DeliveryRow.created_at >= self.period.start)
            .where(DeliveryRow.created_at < self.period.end)
            .where(DeliveryRow.state != "superseded")
            .where(ReportRow.source_id != ONBOARDING_SOURCE)
            .order_by(col(DeliveryRow.created_at), col(DeliveryRow.packet_id))
        ).all()
        return [
            _Delivery(
                packet_id=d.packet_id,
                report_id=d.report_id,
                recipient_id=d.recipient_id,
                kind=kind,
                state=d.state,
                created_at=d.created_at,
                delivered_at=d.delivered_at,
                dead_at=d.dead_at,
                purged_at=d.purged_at,
                pulls=d.pulls,
                attempts=d.attempts,
            )
            for d, kind, _source in rows
        ]

    def _reports(self) -> list[_Report]:
        rows = self.session.exec(
            select(ReportRow, ReportFeedbackRow)
            .join(SourceRow, col(SourceRow.id) == col(ReportRow.source_id))
            .join(
                ReportFeedbackRow,
                col(ReportFeedbackRow.report_id) == col(ReportRow.id),
                isouter=True,
            )
            .where(SourceRow.country == self.country)
            .where(ReportRow.source_id != ONBOARDING_SOURCE)
            .where(ReportRow.accepted_at >= self.period.start)
            .where(ReportRow.accepted_at < self.period.end)
            .order_by(col(ReportRow.accepted_at))
        ).all()
        return [
            _Report(
                report_id=report.id,
                answer=report.answer,
                contact_consent=feedback.contact_consent if feedback else None,
                status_seen_at=feedback.status_seen_at if feedback else None,
            )
            for report, feedback in rows
        ]

    def verdicts(self) -> list[CriterionVerdict]:
        judges = {
            "S1": self.declared_only, "S2": self.s2, "S3": self.s3, "S4": self.s4,
            "S5": self.declared_only, "S6": self.s6, "S7": self.declared_only, "S8": self.s8,
            "S9": self.s9, "S10": self.s10, "S11": self.s11, "S12": self.s12,
            "N1": self.n1, "N2": self.n2, "N3": self.n3,
        }  # fmt: skip
        verdicts = []
        for criterion in self.judge.criteria.criteria:
            judge = judges.get(criterion.id)
            if judge is None:
                verdict, evidence = Verdict.unknown, Evidence(summary="the hub cannot judge this")
            else:
                verdict, evidence = judge(criterion)
            verdicts.append(
                CriterionVerdict(
                    criterion=criterion.id,
                    group=criterion.group,
                    source=criterion.source,
                    statement=criterion.statement,
                    judged=criterion.judged,
                    threshold=criterion.threshold,
                    threshold_kind=criterion.threshold_kind,
                    verdict=verdict,
                    evidence=evidence,
                )
            )
        return verdicts

    # Declarations

    def _declaration(self, criterion: Criterion) -> tuple[Verdict, Evidence, Declaration | None]:
        declaration = self.declared.get(criterion.id)
        if declaration is None:
            return Verdict.unknown, Evidence(summary="no declaration from the section"), None
        expiry = expires_on(declaration, self.judge.criteria)
        stated = f"declared on {declaration.stated_on.isoformat()} by {declaration.declared_by}"
        if expiry <= self.as_of.date():
            evidence = Evidence(
                summary=f"{stated}; expired on {expiry.isoformat()}", declaration=declaration
            )
            return Verdict.not_met, evidence, declaration
        if not declaration.holds:
            evidence = Evidence(summary=f"{stated}: not met", declaration=declaration)
            return Verdict.not_met, evidence, declaration
        evidence = Evidence(
            summary=f"{stated}, valid until {expiry.isoformat()}", declaration=declaration
        )
        return Verdict.met, evidence, declaration

    def declared_only(self, criterion: Criterion) -> tuple[Verdict, Evidence]:
        verdict, evidence, _ = self._declaration(criterion)
        return verdict, evidence

    def s3(self, criterion: Criterion) -> tuple[Verdict, Evidence]:
        verdict, evidence, declaration = self._declaration(criterion)
        if declaration is None:
            return verdict, evidence
        age = (self.as_of.date() - declaration.stated_on).days
        evidence.figures = {"last_review": declaration.stated_on.isoformat(), "age_days": age}
        if verdict is Verdict.met and age > criterion.setting("max_age_days"):
            verdict = Verdict.not_met
            evidence.summary += f"; last review {age} days ago"
        return verdict, evidence

    def s6(self, criterion: Criterion) -> tuple[Verdict, Evidence]:
        """Declared policy, and measured: sealed to current keys, purged on time."""
        declared, evidence, _ = self._declaration(criterion)
        sealed, sealed_evidence = self._sealed_to_current_keys(criterion)
        purged, purged_evidence = self._purged_on_time(criterion)
        evidence.summary += f"; {sealed_evidence.summary}; {purged_evidence.summary}"
        evidence.figures = {**sealed_evidence.figures, **purged_evidence.figures}
        evidence.records = (sealed_evidence.records + purged_evidence.records)[:_RECORDS]
        parts = (declared, sealed, purged)
        if Verdict.not_met in parts:
            return Verdict.not_met, evidence
        if all(v is Verdict.met for v in (declared, sealed)) and purged is not Verdict.not_met:
            return Verdict.met, evidence
        return Verdict.unknown, evidence

    def s8(self, criterion: Criterion) -> tuple[Verdict, Evidence]:
        return Verdict.unknown, Evidence(
            summary="the hub records classifications with the triage decisions, but does not judge "
            "this share yet"
        )

    def s10(self, criterion: Criterion) -> tuple[Verdict, Evidence]:
        return Verdict.unknown, Evidence(
            summary="the hub does not count attachments and locations without reading content"
        )

    def s12(self, criterion: Criterion) -> tuple[Verdict, Evidence]:
        verdict, evidence, declaration = self._declaration(criterion)
        assert self.judge.profiles is not None  # compliance_report fills them in
        profile = _profile_of(self.judge.profiles, self.country)
        if profile is None:
            evidence.summary += f"; no profile of {self.country} says its national languages"
            return Verdict.unknown, evidence
        required = sorted(set(profile.languages) | {"en"})
        offered = sorted({lang for p in profile.portals for lang in p.forms})
        evidence.figures = {
            "required_languages": ", ".join(required),
            "profile_portal_forms": ", ".join(offered),
        }
        if declaration is not None:
            declared = sorted(declaration.languages or [])
            evidence.figures["declared_languages"] = ", ".join(declared)
            missing = sorted(set(required) - set(declared))
            if verdict is Verdict.met and missing:
                verdict = Verdict.not_met
                evidence.summary += f"; missing {', '.join(missing)}"
        return verdict, evidence

    def s11(self, criterion: Criterion) -> tuple[Verdict, Evidence]:
        evidence = Evidence(summary="")
        wanting = [r for r in self.reports if r.contact_consent]
        informed = [r for r in wanting if r.status_seen_at is not None]
        share = _share(len(informed), len(wanting))
        evidence.figures = {
            "reports_with_consent_to_contact": len(wanting),
            "with_status_update": len(informed),
            "share": share,
        }
        evidence.records = [f"report:{r.report_id}" for r in wanting if r.status_seen_at is None][
            :_RECORDS
        ]
        evidence.summary = (
            f"{len(informed)} of {len(wanting)} reports whose reporter consented to contact "
            f"got a status update ({_pct(share)})"
        )
        if share is None:
            return Verdict.unknown, evidence
        met = share >= criterion.setting("min_share")
        return Verdict.met if met else Verdict.not_met, evidence

    def s9(self, criterion: Criterion) -> tuple[Verdict, Evidence]:
        verdict, evidence, declaration = self._declaration(criterion)
        if declaration is None or declaration.last_training is None:
            return verdict, evidence
        age = (self.as_of.date() - declaration.last_training).days
        evidence.figures = {"last_training": declaration.last_training.isoformat(), "age_days": age}
        if verdict is Verdict.met and age > criterion.setting("max_age_days"):
            verdict = Verdict.not_met
            evidence.summary += f"; last training {age} days ago"
        return verdict, evidence

    def s4(self, criterion: Criterion) -> tuple[Verdict, Evidence]:
        verdict, evidence, _ = self._declaration(criterion)
        delivered = sum(d.state == "delivered" for d in self.deliveries)
        evidence.figures = {
            "reports_received_from_portal": len(self.reports),
            "packets_for_the_country": len(self.deliveries),
            "packets_delivered": delivered,
        }
        evidence.summary += (
            f"; the hub's figures for {self.period.name}: {len(self.reports)} reports received "
            f"from the line's portal, {delivered} of {len(self.deliveries)} packets for the "
            "country's recipients delivered"
        )
        return verdict, evidence

    # Measurements

    def n1(self, criterion: Criterion) -> tuple[Verdict, Evidence]:
        if not self.reports:
            return Verdict.unknown, Evidence(summary="no report from the line's portal")
        unacknowledged = [r.report_id for r in self.reports if not self._acknowledged(r)]
        acknowledged = len(self.reports) - len(unacknowledged)
        share = _share(acknowledged, len(self.reports))
        assert share is not None
        verdict = Verdict.met if share >= criterion.setting("min_share") else Verdict.not_met
        return verdict, Evidence(
            summary=f"{acknowledged} of {len(self.reports)} reports carry a valid signed "
            f"acknowledgement ({_pct(share)})",
            figures={"reports": len(self.reports), "acknowledged": acknowledged, "share": share},
            records=[f"report:{r}" for r in unacknowledged][:_RECORDS],
        )

    def _acknowledged(self, report: _Report) -> bool:
        try:
            answer = Envelope.model_validate_json(_acknowledgement_of(report.answer))
            body = verify_acknowledgement(answer, self.judge.hub_keys)
        except (PacketInvalid, ValidationError, ValueError):
            return False
        return str(body.report_id) == report.report_id

    def s2(self, criterion: Criterion) -> tuple[Verdict, Evidence]:
        """Clock hours from intake to the first triage decision of the country's recipients,
        per report (hub/oversight/processing.py); where the country's recipients have recorded
        no decision on the period's reports yet, to the first verified receipt instead."""
        limit = criterion.setting("max_hours")
        processing = country_processing(
            self.session,
            self.country,
            start=self.period.start,
            end=self.period.end,
            now=self.now,
            limit_hours=limit,
        )
        if processing.decided == 0:
            return self._s2_to_first_receipt(criterion)
        share = processing.share_within_limit
        assert share is not None
        assert processing.p95_hours is not None
        verdict = Verdict.met if share >= criterion.setting("min_share") else Verdict.not_met
        return verdict, Evidence(
            summary=f"intake to the first triage decision: {processing.within_limit} of "
            f"{processing.reports} reports within {limit:g} clock hours ({_pct(share)}), 95th "
            f"percentile {processing.p95_hours:.1f} hours; {processing.undecided} not yet "
            "decided (counted with their age)",
            figures={
                "reports": processing.reports,
                "within_limit": processing.within_limit,
                "share": share,
                "p95_hours": processing.p95_hours,
                "not_yet_decided": processing.undecided,
                "measured_to": "first triage decision",
            },
            records=[f"report:{r}" for r in processing.late],
        )

    def _s2_to_first_receipt(self, criterion: Criterion) -> tuple[Verdict, Evidence]:
        """S2 before a country records triage decisions: to the first verified receipt."""
        first: dict[str, tuple[datetime, datetime | None]] = {}
        for d in self.deliveries:
            intake, receipt = first.get(d.report_id, (d.created_at, None))
            if d.delivered_at is not None and (receipt is None or d.delivered_at < receipt):
                receipt = d.delivered_at
            first[d.report_id] = (min(intake, d.created_at), receipt)
        if not first:
            return Verdict.unknown, Evidence(summary="no report for the country's recipients")
        hours = {
            report: ((receipt or self.now) - intake).total_seconds() / 3600
            for report, (intake, receipt) in first.items()
        }
        limit = criterion.setting("max_hours")
        within = sum(h <= limit for h in hours.values())
        share = _share(within, len(hours))
        assert share is not None
        p95 = _nearest_rank(list(hours.values()), 0.95)
        waiting = sum(receipt is None for _, receipt in first.values())
        late = sorted(r for r, h in hours.items() if h > limit)
        verdict = Verdict.met if share >= criterion.setting("min_share") else Verdict.not_met
        return verdict, Evidence(
            summary=f"intake to the first verified receipt (no triage decision recorded yet): "
            f"{within} of {len(hours)} reports within {limit:g} clock hours ({_pct(share)}), 95th "
            f"percentile {p95:.1f} hours; {waiting} not yet receipted",
            figures={
                "reports": len(hours),
                "within_limit": within,
                "share": share,
                "p95_hours": round(p95, 3),
                "not_yet_receipted": waiting,
                "measured_to": "first verified receipt",
            },
            records=[f"report:{r}" for r in late][:_RECORDS],
        )

    def n2(self, criterion: Criterion) -> tuple[Verdict, Evidence]:
        max_age = timedelta(days=criterion.setting("dead_letter_max_age_days"))
        delivered = [d for d in self.deliveries if d.state == "delivered"]
        lost = [
            d
            for d in self.deliveries
            if d.state == "dead" or (d.state != "delivered" and self.now - d.created_at > max_age)
        ]
        in_transit = len(self.deliveries) - len(delivered) - len(lost)
        old_dead = [
            d
            for d in self.deliveries
            if d.state == "dead" and d.dead_at and self.now - d.dead_at > max_age
        ]
        counted = len(delivered) + len(lost)
        share = _share(len(delivered), counted)
        figures: dict[str, Figure] = {
            "packets": len(self.deliveries),
            "delivered": len(delivered),
            "dead_or_overdue": len(lost),
            "in_transit": in_transit,
            "share": share,
            "dead_letters_older_than_limit": len(old_dead),
        }
        records = [f"packet:{d.packet_id}" for d in lost][:_RECORDS]
        if share is None:
            return Verdict.unknown, Evidence(
                summary=f"no packet for the country's recipients settled yet ({in_transit} in "
                "transit)",
                figures=figures,
            )
        met = share >= criterion.setting("min_share") and not old_dead
        return Verdict.met if met else Verdict.not_met, Evidence(
            summary=f"{len(delivered)} of {counted} packets hold a verified receipt "
            f"({_pct(share)}); {len(lost)} dead or undelivered past {max_age.days} days, of which "
            f"{len(old_dead)} dead letters older than that; {in_transit} in transit",
            figures=figures,
            records=records,
        )

    def _sealed_to_current_keys(self, criterion: Criterion) -> tuple[Verdict, Evidence]:
        sealed = self.session.exec(
            select(AuditEntryRow.at, AuditEntryRow.entry, AuditEntryRow.recipient_id)
            .join(RecipientRow, col(RecipientRow.id) == col(AuditEntryRow.recipient_id))
            .join(ReportRow, col(ReportRow.id) == col(AuditEntryRow.report_id))
            .where(AuditEntryRow.kind == "packet_sealed")
            .where(RecipientRow.country == self.country)
            .where(ReportRow.source_id != ONBOARDING_SOURCE)
            .where(AuditEntryRow.at >= self.period.start)
            .where(AuditEntryRow.at < self.period.end)
        ).all()
        if not sealed:
            return Verdict.unknown, Evidence(
                summary="no packet sealed for the country's recipients"
            )
        keys = {
            k.key_id: k
            for k in self.session.exec(
                select(RecipientKeyRow).where(RecipientKeyRow.purpose == "sealing")
            ).all()
        }
        bad = []
        for at, entry, recipient_id in sealed:
            event = _event_of(entry)
            key = keys.get(str(event.get("recipient_key_id")))
            valid = (
                key is not None
                and key.recipient_id == recipient_id
                and key.valid_from <= at
                and (key.revoked_at is None or key.revoked_at > at)
            )
            if not valid:
                bad.append(str(event.get("packet_id")))
        share = _share(len(sealed) - len(bad), len(sealed))
        assert share is not None
        verdict = Verdict.met if share >= criterion.setting("min_share") else Verdict.not_met
        return verdict, Evidence(
            summary=f"{len(sealed) - len(bad)} of {len(sealed)} packets sealed to a current, "
            f"unrevoked key of their recipient ({_pct(share)}); no plaintext is stored",
            figures={
                "packets_sealed": len(sealed),
                "sealed_to_current_keys": len(sealed) - len(bad),
            },
            records=[f"packet:{p}" for p in bad][:_RECORDS],
        )

    def _purged_on_time(self, criterion: Criterion) -> tuple[Verdict, Evidence]:
        start, end = self.period.start, min(self.period.end, self.now)
        grace = self.judge.purge_interval + timedelta(minutes=1)
        rows = self.session.exec(
            select(DeliveryRow)
            .join(RecipientRow, col(RecipientRow.id) == col(DeliveryRow.recipient_id))
            .where(RecipientRow.country == self.country)
            .where(col(DeliveryRow.state).in_(["delivered", "dead"]))
        ).all()
        due: list[tuple[DeliveryRow, datetime]] = []
        for row in rows:
            ended = row.delivered_at if row.state == "delivered" else row.dead_at
            keep = self.judge.retention if row.state == "delivered" else self.judge.dead_retention
            if ended is not None and start <= ended + keep < end:
                due.append((row, ended + keep))
        overdue = [
            row
            for row, at in due
            if (row.purged_at is None and self.now > at + grace)
            or (row.purged_at is not None and row.purged_at > at + grace)
        ]
        figures: dict[str, Figure] = {"purges_due": len(due), "overdue": len(overdue)}
        if not due:
            return Verdict.unknown, Evidence(
                summary="no sealed bytes fell due for purge in the period", figures=figures
            )
        met = len(overdue) <= criterion.setting("max_overdue")
        return Verdict.met if met else Verdict.not_met, Evidence(
            summary=f"{len(due)} packets fell due for purge; {len(overdue)} purged late or not yet",
            figures=figures,
            records=[f"packet:{r.packet_id}" for r in overdue][:_RECORDS],
        )

    def n3(self, criterion: Criterion) -> tuple[Verdict, Evidence]:
        tries = sum(
            max(d.pulls + d.attempts, 1 if d.state == "delivered" else 0) for d in self.deliveries
        )
        succeeded = sum(d.state == "delivered" for d in self.deliveries)
        share = _share(succeeded, tries)
        keys = self.session.exec(
            select(RecipientKeyRow)
            .join(RecipientRow, col(RecipientRow.id) == col(RecipientKeyRow.recipient_id))
            .where(RecipientRow.country == self.country)
            .where(col(RecipientKeyRow.revoked_at).is_(None))
            .where(RecipientKeyRow.valid_from <= self.as_of)
        ).all()
        newest: dict[tuple[str, str], datetime] = {}
        for key in keys:
            slot = (key.recipient_id, key.purpose)
            newest[slot] = max(newest.get(slot, key.valid_from), key.valid_from)
        ages = {slot: (self.as_of - at).days for slot, at in newest.items()}
        max_age = criterion.setting("max_key_age_days")
        stale = sorted(f"{r}/{p}" for (r, p), age in ages.items() if age > max_age)
        oldest = max(ages.values(), default=None)
        figures: dict[str, Figure] = {
            "attempts": tries,
            "ended_in_receipt": succeeded,
            "share": share,
            "oldest_current_key_days": oldest,
        }
        if share is None:
            return Verdict.unknown, Evidence(
                summary="no pull or push to the country's recipients in the period", figures=figures
            )
        met = share >= criterion.setting("min_success_share") and not stale
        return Verdict.met if met else Verdict.not_met, Evidence(
            summary=f"{succeeded} of {tries} pulls and pushes ended in a verified receipt "
            f"({_pct(share)}); oldest current key {oldest} days"
            + (f"; older than {max_age:g} days: {', '.join(stale)}" if stale else ""),
            figures=figures,
            records=[f"packet:{d.packet_id}" for d in self.deliveries if d.pulls + d.attempts > 1][
                :_RECORDS
            ],
        )


def _acknowledgement_of(answer: str) -> str:
    """The acknowledgement envelope inside a stored intake answer, as JSON text."""
    parsed = json.loads(answer)
    return json.dumps(parsed["acknowledgement"])


def _event_of(entry: str) -> dict[str, object]:
    body = json.loads(entry)
    event = body.get("event", {}) if isinstance(body, dict) else {}
    return event if isinstance(event, dict) else {}
