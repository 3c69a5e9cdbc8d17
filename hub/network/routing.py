"""Routing: which recipients must receive a report, and which rules chose each of them.

The network's rules live in a TOML policy (deploy/routing.toml) made of small policy objects: a
country rule selects countries from a report and names the kinds of recipient it wants there; the
fallback names who receives a report that no acting rule could place. Routing is a pure function
of the report, the source's country, the policy and the directory of registered recipients.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hub.errors import ConfigurationError, RoutingFailed
from schemas.envelope import RoutedRecipient
from schemas.report import Report


class RecipientKind(StrEnum):
    section = "section"
    police = "police"
    coordinator = "coordinator"


@dataclass(frozen=True)
class Member:
    """A registered recipient as routing sees it."""

    recipient_id: str
    country: str | None
    kind: RecipientKind


Selector = Callable[[Report, str | None], set[str]]


def _suspect_nationality(report: Report, _source_country: str | None) -> set[str]:
    return {s.nationality for s in report.suspects if s.nationality is not None}


def _suspect_residence(report: Report, _source_country: str | None) -> set[str]:
    return {s.residence_country for s in report.suspects if s.residence_country is not None}


def _incident_country(report: Report, _source_country: str | None) -> set[str]:
    return {report.incident.country}


def _source_country(_report: Report, source_country: str | None) -> set[str]:
    return {source_country} if source_country is not None else set()


SELECTORS: dict[str, Selector] = {
    "suspect_nationality": _suspect_nationality,
    "suspect_residence": _suspect_residence,
    "incident_country": _incident_country,
    "source_country": _source_country,
}


@dataclass(frozen=True)
class CountryRule:
    """Send to the recipients of the given kinds in every country the selector picks."""

    id: str
    selector: Selector
    kinds: frozenset[RecipientKind]

    def choose(
        self, report: Report, source_country: str | None, directory: Sequence[Member]
    ) -> set[str]:
        countries = self.selector(report, source_country)
        return {
            m.recipient_id for m in directory if m.country in countries and m.kind in self.kinds
        }


@dataclass(frozen=True)
class FallbackRule:
    """Send to every recipient of the given kinds when no acting rule chose anybody."""

    id: str
    kinds: frozenset[RecipientKind]
    unless_matched: frozenset[str]

    def choose(self, directory: Sequence[Member]) -> set[str]:
        return {m.recipient_id for m in directory if m.kind in self.kinds}


@dataclass(frozen=True)
class Procedure:
    """Who in a country receives a report first and triages it; the other gets what it forwards.

    `copy_other` keeps the former behaviour for a country that wants it: the other kind also
    receives a copy at once.
    """

    first: RecipientKind
    copy_other: bool = False

    def keeps(self, kind: RecipientKind, first_present: bool) -> bool:
        """Whether a chosen recipient of this kind in the country receives a copy at once."""
        if kind not in (RecipientKind.section, RecipientKind.police):
            return True
        # Fail towards delivery: a country whose first receiver is not registered still gets it.
        return kind == self.first or self.copy_other or not first_present


@dataclass(frozen=True)
class RoutingPolicy:
    """The network's routing rules, applied in order, then the fallback, then each procedure."""

    rules: tuple[CountryRule, ...]
    fallback: FallbackRule
    procedures: Mapping[str, Procedure] = field(default_factory=dict)

    def _apply_procedures(
        self, chosen: dict[str, list[str]], directory: Sequence[Member]
    ) -> dict[str, list[str]]:
        by_id = {m.recipient_id: m for m in directory}
        kept: dict[str, list[str]] = {}
        for recipient_id, rules in chosen.items():
            member = by_id.get(recipient_id)
            procedure = self.procedures.get(member.country or "") if member else None
            if member is None or procedure is None:
                kept[recipient_id] = rules
                continue
            first_present = any(
                by_id[r].country == member.country and by_id[r].kind == procedure.first
                for r in chosen
                if r in by_id
            )
            if procedure.keeps(member.kind, first_present):
                kept[recipient_id] = rules
        return kept

    def route(
        self, report: Report, source_country: str | None, directory: Sequence[Member]
    ) -> list[RoutedRecipient]:
        """Return each recipient once, sorted by id, with the ids of the rules that chose it.

        Raises RoutingFailed when nobody at all can receive the report.
        """
        chosen: dict[str, list[str]] = {}
        for rule in self.rules:
            for recipient_id in sorted(rule.choose(report, source_country, directory)):
                chosen.setdefault(recipient_id, []).append(rule.id)
        acted = any(set(rules) & self.fallback.unless_matched for rules in chosen.values())
        if not acted:
            for recipient_id in sorted(self.fallback.choose(directory)):
                chosen.setdefault(recipient_id, []).append(self.fallback.id)
        chosen = self._apply_procedures(chosen, directory)
        if not chosen:
            raise RoutingFailed(f"no recipient for report {report.report_id}")
        return [RoutedRecipient(recipient_id=r, rules=chosen[r]) for r in sorted(chosen)]


class _RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9-]{1,40}$")
    selects: Literal[
        "suspect_nationality", "suspect_residence", "incident_country", "source_country"
    ]
    kinds: list[RecipientKind] = Field(min_length=1)


class _FallbackFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9-]{1,40}$")
    kinds: list[RecipientKind] = Field(min_length=1)
    unless_matched: list[str]


class _ProcedureFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first: Literal[RecipientKind.section, RecipientKind.police]
    copy_other: bool = False


class _PolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1]
    rules: list[_RuleFile] = Field(min_length=1)
    fallback: _FallbackFile
    procedures: dict[str, _ProcedureFile] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _ids_known_and_unique(self) -> _PolicyFile:
        ids = [r.id for r in self.rules]
        if len(set(ids)) != len(ids) or self.fallback.id in ids:
            raise ValueError("rule ids must be unique")
        unknown = set(self.fallback.unless_matched) - set(ids)
        if unknown:
            raise ValueError(f"fallback.unless_matched names unknown rules: {sorted(unknown)}")
        return self


def parse_policy(text: str) -> RoutingPolicy:
    """Build a policy from TOML text. Raises ConfigurationError naming what is wrong."""
    try:
        document = _PolicyFile.model_validate(tomllib.loads(text))
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ConfigurationError(f"routing policy is invalid: {exc}") from exc
    return RoutingPolicy(
        rules=tuple(
            CountryRule(id=r.id, selector=SELECTORS[r.selects], kinds=frozenset(r.kinds))
            for r in document.rules
        ),
        fallback=FallbackRule(
            id=document.fallback.id,
            kinds=frozenset(document.fallback.kinds),
            unless_matched=frozenset(document.fallback.unless_matched),
        ),
        procedures={
            country.upper(): Procedure(first=RecipientKind(p.first), copy_other=p.copy_other)
            for country, p in document.procedures.items()
        },
    )


def load_policy(path: Path) -> RoutingPolicy:
    """Read the policy file. Raises ConfigurationError if it is missing or invalid."""
    try:
        return parse_policy(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read routing policy {path}") from exc


def member_countries(directory: Iterable[Member]) -> set[str]:
    """Countries with at least one registered recipient."""
    return {m.country for m in directory if m.country is not None}
