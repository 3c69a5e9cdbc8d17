"""Triage decisions at the hub: a recipient records a coded decision on a report it received;
unknown codes, decisions on what it never received, needs-information without consent and
impossible times are refused with the field and reason, and change nothing; the audit log keeps
codes and times, never content."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, select, text

from hub.audit.log import entries
from hub.http.app import create_app
from hub.settings import Settings
from hub.store import TriageDecisionRow
from tests.conftest import Clock, Network
from tests.hub.oversight.test_feedback import MARKER, receive, submit


def decide(
    client: TestClient,
    network: Network,
    recipient: str,
    report_id: str,
    at: datetime,
    **body: Any,
) -> Any:
    return client.post(
        f"/v1/reports/{report_id}/triage",
        json={"decided_at": at.isoformat(), **body},
        headers=network.auth(recipient),
    )


def snapshot(engine: Engine) -> dict[str, list[str]]:
    """Every row of every table."""
    rows: dict[str, list[str]] = {}
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            result = connection.execute(text(f"SELECT * FROM {table.name}"))  # noqa: S608
            rows[table.name] = sorted(repr(tuple(row)) for row in result)
    return rows


CLOSE = {"decision": "close", "classification": "not_within_scope", "reason_code": "duplicate"}


def test_a_recipient_records_a_coded_decision_on_a_report_it_received(
    client: TestClient, network: Network, clock: Clock, engine: Engine
) -> None:
    report_id = submit(client, network)
    receive(client, network, "nl-section")
    clock.advance(hours=5)
    answer = decide(
        client,
        network,
        "nl-section",
        report_id,
        clock(),
        decision="forward",
        classification="sexual_exploitation_travel_tourism",
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["decision"] == "forward"
    assert body["classification"] == "sexual_exploitation_travel_tourism"
    assert body["reason_code"] is None
    assert body["recipient_id"] == "nl-section"
    with Session(engine) as session:
        [row] = session.exec(select(TriageDecisionRow)).all()
        assert (row.report_id, row.recipient_id, row.decision) == (
            report_id,
            "nl-section",
            "forward",
        )
        assert row.recorded_at == clock()
        logged = [e for e in entries(session, report_id=report_id) if e.kind == "triage_decided"]
    assert len(logged) == 1
    event = json.loads(logged[0].entry)["event"]
    assert event["classification"] == "sexual_exploitation_travel_tourism"
    assert event["decision"] == "forward"
    assert MARKER not in answer.text
    assert MARKER not in repr(logged[0])


def test_a_decision_sent_again_with_its_id_is_recorded_once_and_other_codes_conflict(
    client: TestClient, network: Network, clock: Clock, engine: Engine
) -> None:
    report_id = submit(client, network)
    receive(client, network, "nl-police")
    decision_id = str(uuid4())
    first = decide(
        client, network, "nl-police", report_id, clock(), decision_id=decision_id, **CLOSE
    )
    again = decide(
        client, network, "nl-police", report_id, clock(), decision_id=decision_id, **CLOSE
    )
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = {**CLOSE, "reason_code": "no_jurisdiction"}
    conflict = decide(
        client, network, "nl-police", report_id, clock(), decision_id=decision_id, **other
    )
    assert conflict.status_code == 409
    with Session(engine) as session:
        assert len(session.exec(select(TriageDecisionRow)).all()) == 1


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"decision": "forward", "classification": "tourism"}, "classification", "not a code"),
        ({**CLOSE, "reason_code": None}, "reason_code", "a close needs a reason code"),
        ({**CLOSE, "reason_code": "made_up"}, "reason_code", "not a reason code"),
        ({**CLOSE, "reason_code": "place_or_time_missing"}, "reason_code", "not a reason for"),
        (
            {
                "decision": "forward",
                "classification": "child_sexual_abuse",
                "reason_code": "duplicate",
            },
            "reason_code",
            "a forward takes no reason code",
        ),
        (
            {"decision": "needs_information", "classification": "insufficient_information"},
            "decision",
            "did not consent to contact",
        ),
        (
            {"decision": "postpone", "classification": "child_sexual_abuse"},
            "decision",
            "must be one of",
        ),
        ({**CLOSE, "classification": "Not-A-Code" * 5}, "classification", "at most 40"),
        ({**CLOSE, "note": "free text"}, "body", "unknown field"),
    ],
)
def test_a_bad_decision_gets_422_naming_the_field_and_changes_nothing(
    client: TestClient,
    network: Network,
    clock: Clock,
    engine: Engine,
    body: dict[str, Any],
    field: str,
    reason: str,
) -> None:
    report_id = submit(client, network)  # an anonymous reporter: no consent to contact
    receive(client, network, "nl-section")
    before = snapshot(engine)
    answer = decide(client, network, "nl-section", report_id, clock(), **body)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    errors = answer.json()["errors"]
    assert any(e["field"] == field and reason in e["reason"] for e in errors), errors
    assert snapshot(engine) == before


def test_needs_information_is_recorded_where_the_reporter_consented_to_contact(
    client: TestClient, network: Network, clock: Clock
) -> None:
    report_id = submit(client, network, contact=True)
    receive(client, network, "nl-section")
    answer = decide(
        client,
        network,
        "nl-section",
        report_id,
        clock(),
        decision="needs_information",
        classification="insufficient_information",
        reason_code="place_or_time_missing",
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["reason_code"] == "place_or_time_missing"


def test_nobody_decides_on_a_report_it_holds_no_verified_receipt_for(
    client: TestClient, network: Network, clock: Clock, engine: Engine
) -> None:
    report_id = submit(client, network)
    receive(client, network, "nl-section")
    before = snapshot(engine)
    # nl-police was routed a copy but has not receipted it; at-police was never routed one.
    for recipient in ("nl-police", "at-police"):
        answer = decide(client, network, recipient, report_id, clock(), **CLOSE)
        assert answer.status_code == 404, answer.text
    unknown = decide(client, network, "nl-section", str(uuid4()), clock(), **CLOSE)
    assert unknown.status_code == 404
    source = decide(client, network, "portal-nl", report_id, clock(), **CLOSE)
    assert source.status_code == 403
    assert snapshot(engine) == before


def test_a_decision_dated_in_the_future_or_before_the_receipt_is_refused(
    client: TestClient, network: Network, clock: Clock, engine: Engine
) -> None:
    report_id = submit(client, network)
    receive(client, network, "nl-section")
    before = snapshot(engine)
    future = decide(client, network, "nl-section", report_id, clock() + timedelta(hours=1), **CLOSE)
    past = decide(client, network, "nl-section", report_id, clock() - timedelta(hours=1), **CLOSE)
    for answer, reason in ((future, "in the future"), (past, "before the caller received")):
        assert answer.status_code == 422
        [error] = answer.json()["errors"]
        assert error["field"] == "decided_at"
        assert error["reason"].startswith(reason)
    assert snapshot(engine) == before


def test_coordinators_extend_the_codes_with_their_own_file(
    settings: Settings, network: Network, clock: Clock, tmp_path: Path
) -> None:
    extra = tmp_path / "codes.toml"
    extra.write_text(
        'version = 1\n\n[[classification]]\ncode = "live_online_child_sexual_abuse"\n'
        'term = "live online child sexual abuse"\ndefinition = "Abuse streamed live."\n'
        'reference = "Luxembourg Guidelines (2016), term: live online child sexual abuse"\n\n'
        '[[classification]]\ncode = "child_sexual_abuse"\nterm = "child sexual abuse"\n'
        'definition = "Retired by the coordinators for the test."\nreference = "test"\n'
        "retired = true\n",
        encoding="utf-8",
    )
    app = create_app(
        settings.model_copy(update={"classification_codes": extra, "scheduler": False}),
        clock=clock,
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        report_id = submit(client, network)
        receive(client, network, "nl-section")
        new = decide(
            client,
            network,
            "nl-section",
            report_id,
            clock(),
            decision="forward",
            classification="live_online_child_sexual_abuse",
        )
        assert new.status_code == 201, new.text
        retired = decide(
            client,
            network,
            "nl-section",
            report_id,
            clock(),
            decision="forward",
            classification="child_sexual_abuse",
        )
        assert retired.status_code == 422
        assert retired.json()["errors"] == [
            {"field": "classification", "reason": "a retired code: choose a current one"}
        ]
