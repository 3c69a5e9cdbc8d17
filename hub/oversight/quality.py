"""The network's quality standards for reporting lines, as data, and what sections declare.

The standards S1 to S12 (each with its source) and the hub's own network operations N1 to N3
(statement, how each is judged, thresholds and whether a threshold comes from the source or is a
network setting) ship as package data, `hub/oversight/standards.toml`; the setting
`HUB_QUALITY_CRITERIA` may name a deployment's own copy. Declared criteria are stated by a
country's section, dated and with a link to the evidence (`declare`); a declaration expires a year
after its date unless restated. Measured criteria are computed by `hub.oversight.compliance` from
the hub's own records. Periods are quarters, months or years, in UTC (`Period.parse("2026-Q4")`).
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import AnyHttpUrl, AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from sqlmodel import Session, col, select

from hub.audit.events import CriterionDeclared
from hub.audit.log import record
from hub.errors import ConfigurationError, InvalidInput
from hub.store import DeclarationRow
from schemas.report import LanguageCode

__all__ = [
    "DECLARED",
    "PERIOD_PATTERN",
    "Criteria",
    "Criterion",
    "Declaration",
    "DeclarationIn",
    "Period",
    "declarations_for",
    "declare",
    "declare_demo",
    "expired_for",
    "load_criteria",
    "read_criteria",
]

# A year, a quarter or a month of this millennium: 2026, 2026-Q4, 2026-11.
PERIOD_PATTERN = r"^2[0-9]{3}(-Q[1-4]|-(0[1-9]|1[0-2]))?$"
# The standards a section declares (in part, for S4 and S6).
DECLARED = ("S1", "S3", "S4", "S5", "S6", "S7", "S9", "S12")
DeclaredId = Literal["S1", "S3", "S4", "S5", "S6", "S7", "S9", "S12"]


class Criterion(BaseModel):
    """One standard (S) or network operation (N): what it asks, where it comes from, how the hub
    judges it, and its thresholds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[SN][0-9]{1,2}$")
    group: Literal["standard", "network operation"]
    source: str = Field(min_length=1, description="STD, FRB, CMP, RTR, BE (docs/quality.md); hub")
    statement: str = Field(min_length=1)
    judged: Literal["declared", "measured", "measured and declared"]
    how: str = Field(min_length=1)
    threshold: str = Field(min_length=1)
    threshold_kind: Literal["source", "network setting"]
    settings: dict[str, float] = Field(default_factory=dict)

    def setting(self, name: str) -> float:
        """A threshold. Raises ConfigurationError if the criteria file lacks it."""
        if name not in self.settings:
            raise ConfigurationError(f"quality criterion {self.id} needs the setting {name}")
        return self.settings[name]


class Criteria(BaseModel):
    """The whole list, in order, with how long a declaration stays valid."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[2]
    declarations_valid_days: int = Field(ge=1)
    criteria: list[Criterion] = Field(min_length=1)

    def get(self, criterion_id: str) -> Criterion:
        """One criterion by id. Raises ConfigurationError if the file lacks it."""
        for criterion in self.criteria:
            if criterion.id == criterion_id:
                return criterion
        raise ConfigurationError(f"the quality criteria have no {criterion_id}")

    @model_validator(mode="after")
    def _twelve_distinct(self) -> Criteria:
        ids = [c.id for c in self.criteria]
        if len(set(ids)) != len(ids):
            raise ValueError("criterion ids must be distinct")
        return self


def read_criteria(path: Path | None = None) -> Criteria:
    """Read and check the standards file at `path` (relative to the working directory, as every
    path setting), or the package's own when `path` is None; uncached, as /readyz wants it.

    Raises ConfigurationError if it is missing or invalid.
    """
    if path is None:
        with resources.as_file(resources.files("hub.oversight") / "standards.toml") as built_in:
            return _parse(built_in.resolve())
    return _parse(path.resolve())


def _parse(path: Path) -> Criteria:
    try:
        return Criteria.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ValueError) as exc:
        raise ConfigurationError(f"{path}: not a readable quality criteria file") from exc


@functools.cache
def _cached(path: Path | None) -> Criteria:
    return read_criteria(path)


def load_criteria(path: Path | None = None) -> Criteria:
    """The standards file at `path`, or the package's own when `path` is None, read once.

    Raises ConfigurationError if it is missing or invalid.
    """
    return _cached(None if path is None else path.resolve())


@dataclass(frozen=True)
class Period:
    """A reporting period in UTC: a year (2026), a quarter (2026-Q4) or a month (2026-11)."""

    name: str
    start: datetime
    end: datetime

    @classmethod
    def parse(cls, text: str) -> Period:
        """Raises InvalidInput for anything but YYYY, YYYY-Qn or YYYY-MM (years 2000 to 2999)."""
        if not re.fullmatch(PERIOD_PATTERN, text):
            raise InvalidInput.at(
                "period", "give a year (2026), a quarter (2026-Q4) or a month (2026-11)"
            )
        if match := re.fullmatch(r"(\d{4})", text):
            year = int(match[1])
            return cls(text, _utc(year, 1), _utc(year + 1, 1))
        if match := re.fullmatch(r"(\d{4})-Q([1-4])", text):
            year, quarter = int(match[1]), int(match[2])
            first = 3 * (quarter - 1) + 1
            end = _utc(year + 1, 1) if quarter == 4 else _utc(year, first + 3)
            return cls(text, _utc(year, first), end)
        if match := re.fullmatch(r"(\d{4})-(0[1-9]|1[0-2])", text):
            year, month = int(match[1]), int(match[2])
            end = _utc(year + 1, 1) if month == 12 else _utc(year, month + 1)
            return cls(text, _utc(year, month), end)
        raise InvalidInput.at(
            "period", "give a year (2026), a quarter (2026-Q4) or a month (2026-11)"
        )

    @classmethod
    def containing(cls, at: datetime) -> Period:
        """The quarter `at` falls in."""
        at = at.astimezone(UTC)
        return cls.parse(f"{at.year}-Q{(at.month - 1) // 3 + 1}")


def _utc(year: int, month: int) -> datetime:
    return datetime(year, month, 1, tzinfo=UTC)


class DeclarationIn(BaseModel):
    """What a section states about one declared criterion."""

    model_config = ConfigDict(extra="forbid")

    criterion: DeclaredId
    stated_on: date = Field(description="The date the statement was made (it expires a year on).")
    holds: bool = Field(True, description="Whether the line meets it.")
    evidence_url: AnyHttpUrl | None = Field(
        None, description="An agreement, a policy page, the published figures."
    )
    languages: list[LanguageCode] | None = Field(
        None, max_length=30, description="S12: the languages the reporting form is offered in."
    )
    last_training: date | None = Field(None, description="S9: the date of the last training.")

    @model_validator(mode="after")
    def _what_each_needs(self) -> DeclarationIn:
        if self.criterion == "S12" and not self.languages:
            raise ValueError("S12 needs the languages of the form")
        if self.criterion == "S9" and self.last_training is None:
            raise ValueError("S9 needs the date of the last training")
        return self


class Declaration(BaseModel):
    """A stored declaration, as evidence."""

    model_config = ConfigDict(extra="forbid")

    country: str
    criterion: str
    stated_on: date
    holds: bool
    evidence_url: str | None
    languages: list[str] | None
    last_training: date | None
    declared_by: str
    recorded_at: AwareDatetime


def declare(
    session: Session, *, country: str, declaration: DeclarationIn, declared_by: str, now: datetime
) -> Declaration:
    """Store a section's declaration for its country (the newest statement counts).

    Raises InvalidInput for a date in the future.
    """
    if declaration.stated_on > now.date():
        raise InvalidInput.at("stated_on", "is in the future")
    row = DeclarationRow(
        country=country,
        criterion=declaration.criterion,
        stated_on=declaration.stated_on,
        holds=declaration.holds,
        evidence_url=str(declaration.evidence_url) if declaration.evidence_url else None,
        languages=",".join(declaration.languages) if declaration.languages else None,
        last_training=declaration.last_training,
        declared_by=declared_by,
        recorded_at=now,
    )
    session.add(row)
    record(
        session,
        CriterionDeclared(
            country=country,
            criterion=declaration.criterion,
            stated_on=declaration.stated_on,
            holds=declaration.holds,
            evidence_url=row.evidence_url,
            declared_by=declared_by,
        ),
        at=now,
    )
    session.commit()
    return _as_declaration(row)


def _as_declaration(row: DeclarationRow) -> Declaration:
    return Declaration(
        country=row.country,
        criterion=row.criterion,
        stated_on=row.stated_on,
        holds=row.holds,
        evidence_url=row.evidence_url,
        languages=row.languages.split(",") if row.languages else None,
        last_training=row.last_training,
        declared_by=row.declared_by,
        recorded_at=row.recorded_at,
    )


def declarations_for(session: Session, country: str, *, on: date) -> dict[str, Declaration]:
    """The newest declaration of each criterion for a country, stated on or before `on`."""
    rows = session.exec(
        select(DeclarationRow)
        .where(DeclarationRow.country == country)
        .where(DeclarationRow.stated_on <= on)
        .where(col(DeclarationRow.expired_reason).is_(None))
        .order_by(col(DeclarationRow.stated_on), col(DeclarationRow.recorded_at))
    ).all()
    return {row.criterion: _as_declaration(row) for row in rows}


def expired_for(session: Session, country: str) -> list[str]:
    """Why each of a country's declarations of a criterion that left the list expired."""
    rows = session.exec(
        select(DeclarationRow)
        .where(DeclarationRow.country == country)
        .where(col(DeclarationRow.expired_reason).is_not(None))
        .order_by(col(DeclarationRow.stated_on))
    ).all()
    return [
        f"{r.criterion} declared on {r.stated_on.isoformat()}: {r.expired_reason}" for r in rows
    ]


def expires_on(declaration: Declaration, criteria: Criteria) -> date:
    """The day a declaration stops counting unless restated."""
    return declaration.stated_on + timedelta(days=criteria.declarations_valid_days)


def declare_demo(session: Session, *, now: datetime) -> int:
    """The demo network's sections declare: most criteria for AT and NL, two for BE, none for DE
    (so that the demo's scorecard shows every verdict). Returns how many declarations."""
    day = now.date().replace(day=1)
    statements: list[tuple[str, dict[str, object]]] = []
    for country, languages in (("AT", ["de", "en"]), ("NL", ["nl", "en"])):
        site = f"https://example.org/demo/{country.lower()}"
        statements += [
            (country, {"criterion": "S1", "evidence_url": f"{site}/vetting"}),
            (country, {"criterion": "S3", "evidence_url": f"{site}/how-to-report"}),
            (country, {"criterion": "S4", "evidence_url": f"{site}/annual-report"}),
            (country, {"criterion": "S5", "evidence_url": f"{site}/police-agreement"}),
            (country, {"criterion": "S6", "evidence_url": f"{site}/privacy"}),
            (country, {"criterion": "S7", "evidence_url": f"{site}/terminology"}),
            (country, {"criterion": "S9", "last_training": day}),
            (country, {"criterion": "S12", "languages": languages}),
        ]
    statements += [
        ("BE", {"criterion": "S5"}),
        ("BE", {"criterion": "S12", "languages": ["nl", "en"]}),  # French is missing: not met
    ]
    for country, fields in statements:
        declaration = DeclarationIn.model_validate({"stated_on": day, **fields})
        declare(
            session,
            country=country,
            declaration=declaration,
            declared_by=f"{country.lower()}-section",
            now=now,
        )
    return len(statements)
