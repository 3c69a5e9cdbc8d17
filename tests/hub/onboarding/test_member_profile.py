"""A member's registration folder carries its country profile; the hub stores it, audits it, and
judges the member and counts its working days by it."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from connectors.countries.profiles import load_profiles
from connectors.recipient.onboard import init_member
from hub.cli.oversight import render_html
from hub.errors import InvalidInput
from hub.intake.accept import accept_report
from hub.network.credentials import Principal, Role
from hub.network.keyring import load_hub_secrets, published_keys
from hub.network.profiles import hub_profiles
from hub.network.routing import load_policy
from hub.onboarding.member import (
    read_registration,
    read_registration_profile,
    register_recipients,
)
from hub.oversight.compliance import compliance_report, judge_for
from hub.oversight.figures import open_deliveries
from hub.oversight.quality import Period
from hub.settings import Settings
from hub.store import AuditEntryRow, CountryProfileRow
from schemas.report import Report
from tests.conftest import ROOT, Clock, Network
from tests.factories import report_body

EXAMPLE = ROOT / "docs" / "examples" / "profiles" / "fr" / "profile.toml"


@pytest.fixture
def registration(tmp_path: Path, settings: Settings) -> Path:
    """France's registration folder, as `connector init` writes it on the member's side."""
    france = load_profiles([EXAMPLE.parent.parent]).get("FR")
    setup = init_member(
        france,
        out=tmp_path / "fr-member",
        hub_url="http://127.0.0.1:9",
        hub_key_file=settings.hub_public_key_file,
    )
    return setup.registration_dir


def _register(registration: Path, engine: Engine, now: datetime) -> None:
    document, keys = read_registration(registration)
    profile = read_registration_profile(registration, document)
    with Session(engine) as session:
        register_recipients(session, document, keys, now=now, profile=profile)


def test_connector_init_puts_the_profile_as_written_in_the_registration_folder(
    registration: Path,
) -> None:
    assert (registration / "profile.toml").read_bytes() == EXAMPLE.read_bytes()
    document = json.loads((registration / "registration.json").read_text(encoding="utf-8"))
    assert document["profile_file"] == "profile.toml"


def test_the_registered_profile_is_stored_audited_and_used_for_frances_calendar(
    registration: Path, engine: Engine, network: Network, clock: Clock
) -> None:
    with Session(engine) as session:
        assert "FR" not in hub_profiles(session).by_code  # not shipped: France is data
    _register(registration, engine, clock())
    with Session(engine) as session:
        row = session.get(CountryProfileRow, "FR")
        assert row is not None
        assert row.profile == EXAMPLE.read_text(encoding="utf-8")
        (entry,) = session.exec(
            select(AuditEntryRow.entry).where(AuditEntryRow.kind == "profile_registered")
        ).all()
        france = hub_profiles(session).get("FR")
    event = json.loads(entry)["event"]
    assert event["profile_sha256"] == hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()
    assert (event["calendar"], event["languages"], event["timezone"]) == (
        "FR", ["fr", "en"], "Europe/Paris"
    )  # fmt: skip
    assert france.calendar.holidays == "FR"


def test_the_compliance_report_shows_frances_calendar_and_languages_from_its_profile(
    registration: Path, engine: Engine, network: Network, settings: Settings, clock: Clock
) -> None:
    _register(registration, engine, clock())
    judge = judge_for(settings, published_keys(settings))
    with Session(engine) as session:
        report = compliance_report(
            session, period=Period.containing(clock()), now=clock(), judge=judge
        )
    (france,) = [card for card in report.countries if card.country == "FR"]
    assert france.profile.calendar == "FR"
    assert france.profile.languages == ["fr", "en"]
    assert france.profile.timezone == "Europe/Paris"
    (s12,) = [v for v in france.verdicts if v.criterion == "S12"]
    assert s12.evidence.figures["required_languages"] == "en, fr"
    assert "no profile" not in s12.evidence.summary
    page = render_html(report)  # `hub compliance report --format html`
    assert "Profile FR: languages fr, en; working-day calendar FR; time zone Europe/Paris" in page


def test_late_deliveries_of_a_registered_country_count_its_own_holidays(
    registration: Path, engine: Engine, network: Network, settings: Settings
) -> None:
    """14 July is a day off in France: a packet waiting since the 13th at noon is 1 day old
    on the 15th at noon, not 2."""
    sealed = datetime.fromisoformat("2026-07-13T10:00:00+00:00")  # noon in Paris
    _register(registration, engine, sealed)
    secrets, _ = load_hub_secrets(settings)
    report = Report.model_validate(report_body("portal-be", nationalities=("FR",)))
    with Session(engine) as session:
        accept_report(
            session,
            report=report,
            caller=Principal(role=Role.source, id="portal-be"),
            policy=load_policy(settings.routing_policy),
            secrets=secrets,
            now=sealed,
        )
    later = sealed + timedelta(days=2)
    with Session(engine) as session:
        found = open_deliveries(session, now=later, late_after=0.5)
    (police,) = [d for d in found if d.recipient_id == "fr-police"]
    assert police.country == "FR"
    assert police.age_working_days == pytest.approx(1.0)


def test_a_profile_that_does_not_match_its_registration_registers_nothing(
    registration: Path, engine: Engine, network: Network
) -> None:
    profile = registration / "profile.toml"
    profile.write_text(
        profile.read_text(encoding="utf-8").replace('country = "FR"', 'country = "BE"'),
        encoding="utf-8",
    )
    document, _keys = read_registration(registration)
    with pytest.raises(InvalidInput) as raised:
        read_registration_profile(registration, document)
    assert raised.value.errors[0].field == "profile_file"
    assert "country" in raised.value.errors[0].reason
