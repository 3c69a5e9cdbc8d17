"""Each country's procedure (issue 14): who receives a report first, kept as data in one place
with the country profiles, applied at intake and recorded in the audit log when it changes."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from connectors.countries.profiles import load_profiles
from hub.audit.events import ProceduresChanged
from hub.http.app import create_app
from hub.network.procedures import record_procedures
from hub.network.routing import load_policy
from hub.settings import Settings
from hub.store import AuditEntryRow, make_engine
from tests.conftest import Clock, Network
from tests.factories import DEPLOYED_POLICY, copies_at_once_policy
from tests.hub.audit.test_audit import sign, verify
from tests.hub.delivery.test_delivery import accepted


@pytest.fixture
def routing_policy() -> Path:
    """This module is about the procedures: the hub routes with the deployed policy."""
    return DEPLOYED_POLICY


def test_the_hubs_procedures_are_those_the_country_profiles_declare() -> None:
    # The hub reads deploy/routing.toml, never the profiles: the two must not drift apart.
    declared = {
        p.country: (p.procedure.first, p.procedure.copy_other)
        for p in load_profiles().by_code.values()
        if p.country is not None and p.procedure is not None
    }
    deployed = {
        country: (procedure.first.value, procedure.copy_other)
        for country, procedure in load_policy(DEPLOYED_POLICY).procedures.items()
    }
    assert deployed == declared
    assert declared == {
        "AT": ("police", False),
        "BE": ("section", False),
        "DE": ("police", False),
        "NL": ("section", False),
    }


@pytest.mark.parametrize(
    ("country", "first"),
    [("BE", "section"), ("NL", "section"), ("DE", "police"), ("AT", "police")],
)
def test_a_report_reaches_the_first_receiver_of_its_country_only(
    client: TestClient, network: Network, country: str, first: str
) -> None:
    answer = accepted(
        client, network, source="platform-int", country="TH", nationalities=(country,)
    )
    assert answer["recipients"] == [
        {"recipient_id": f"{country.lower()}-{first}", "rules": ["suspect-nationality"]}
    ]


def _procedure_entries(settings: Settings) -> list[ProceduresChanged]:
    engine = make_engine(settings.resolved_database_url)
    with Session(engine) as session:
        rows = session.exec(
            select(AuditEntryRow.entry)
            .where(AuditEntryRow.kind == ProceduresChanged.kind)
            .order_by(col(AuditEntryRow.leaf_index))
        ).all()
    engine.dispose()
    return [ProceduresChanged.model_validate(json.loads(row)["event"]) for row in rows]


def _start_and_stop(settings: Settings, clock: Clock, policy: Path) -> None:
    changed = settings.model_copy(update={"routing_policy": policy, "scheduler": False})
    app = create_app(changed, clock=clock)
    with TestClient(app, raise_server_exceptions=False):
        clock.advance(hours=1)


def test_a_changed_procedure_is_recorded_once_and_an_unchanged_restart_records_nothing(
    settings: Settings, clock: Clock, tmp_path: Path
) -> None:
    copies = copies_at_once_policy(tmp_path)
    _start_and_stop(settings, clock, DEPLOYED_POLICY)
    first = _procedure_entries(settings)
    assert [(p.country, p.first, p.copy_other) for p in first[0].procedures] == [
        ("AT", "police", False),
        ("BE", "section", False),
        ("DE", "police", False),
        ("NL", "section", False),
    ]
    assert len(first) == 1

    _start_and_stop(settings, clock, DEPLOYED_POLICY)
    assert _procedure_entries(settings) == first

    _start_and_stop(settings, clock, copies)
    changed = _procedure_entries(settings)
    assert len(changed) == 2
    assert {p.country for p in changed[1].procedures} == {"AT", "BE", "DE", "NL"}
    assert all(p.copy_other for p in changed[1].procedures)

    _start_and_stop(settings, clock, copies)
    _start_and_stop(settings, clock, DEPLOYED_POLICY)
    assert [len(e.procedures) for e in _procedure_entries(settings)] == [4, 4, 4]
    assert _procedure_entries(settings)[2] == first[0]

    engine = make_engine(settings.resolved_database_url)
    sign(engine, settings, clock.now)
    verdict = verify(engine, settings)
    engine.dispose()
    assert verdict.verified, verdict.problems


def test_procedures_taken_out_of_the_policy_are_recorded_as_none(
    settings: Settings, clock: Clock, tmp_path: Path
) -> None:
    text = DEPLOYED_POLICY.read_text(encoding="utf-8")
    without = tmp_path / "routing-without-procedures.toml"
    without.write_text(text.split("[procedures.", 1)[0], encoding="utf-8")
    assert load_policy(without).procedures == {}

    _start_and_stop(settings, clock, without)
    assert _procedure_entries(settings) == []  # a new hub without procedures: nothing changed
    _start_and_stop(settings, clock, DEPLOYED_POLICY)
    _start_and_stop(settings, clock, without)
    assert [len(e.procedures) for e in _procedure_entries(settings)] == [4, 0]


def test_hub_processes_starting_at_once_record_a_changed_procedure_once(
    settings: Settings, clock: Clock
) -> None:
    # A fleet restarts together: each process holds the log before it reads the last entry.
    policy = load_policy(DEPLOYED_POLICY)
    engines = [make_engine(settings.resolved_database_url) for _ in range(4)]
    start = threading.Barrier(len(engines))

    def starts(engine: Engine) -> bool:
        with Session(engine) as session:
            start.wait()
            return record_procedures(session, policy, clock.now)

    with ThreadPoolExecutor(len(engines)) as pool:
        recorded = list(pool.map(starts, engines))
    for engine in engines:
        engine.dispose()
    assert sorted(recorded) == [False, False, False, True]
    assert len(_procedure_entries(settings)) == 1
