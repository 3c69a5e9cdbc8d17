"""Triage in the connector, over real HTTP on loopback: the first receiver records a coded
decision (forward, needs information, close); a forward goes on through the hub with its
classification; needs-information is refused without the reporter's consent; a code the network
does not know is refused by the hub and nothing is recorded or forwarded."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, select
from structlog.testing import capture_logs
from typer.testing import CliRunner

from connectors.cli.main import app
from connectors.errors import ForwardRefused, HubRefused, TriageRefused
from connectors.recipient.ledger import Ledger
from connectors.recipient.outcome import record_outcome
from connectors.recipient.pull import pull_until_empty
from connectors.recipient.triage import triage_report
from hub.store import ForwardRow, TriageDecisionRow, make_engine
from schemas.classification import Decision
from schemas.commitment import ForwardAdditions
from tests.conftest import LiveHub
from tests.connectors.recipient.test_forward import (
    CONTACT,
    _config,
    _copy,
    _received_forward,
    _submit,
)


def _decisions(hub: LiveHub) -> list[TriageDecisionRow]:
    engine = make_engine(hub.settings.resolved_database_url)
    try:
        with Session(engine) as session:
            return list(session.exec(select(TriageDecisionRow)).all())
    finally:
        engine.dispose()


def _forwards(hub: LiveHub) -> list[ForwardRow]:
    engine = make_engine(hub.settings.resolved_database_url)
    try:
        with Session(engine) as session:
            return list(session.exec(select(ForwardRow)).all())
    finally:
        engine.dispose()


def _received(
    hub: LiveHub, recipient: str, reporter: dict[str, Any] | None = None
) -> tuple[str, str]:
    """A Belgian report `recipient` pulled and receipted: (report id, its packet id)."""
    report_id = _submit(hub, reporter)["report_id"]
    config = _config(hub, recipient)
    pull_until_empty(config)
    return report_id, _copy(config, report_id)


def test_a_section_forwards_to_its_police_and_the_police_see_the_classification(
    live_hub: LiveHub,
) -> None:
    report_id, packet_id = _received(live_hub, "be-section")
    result = triage_report(
        _config(live_hub, "be-section"),
        packet_id,
        decision=Decision.forward,
        classification="sexual_exploitation_travel_tourism",
        to_recipient_id="be-police",
        note="Enough usable information.",
    )
    assert result.decision.decision is Decision.forward
    assert result.forward is not None
    assert result.forward.answer.to_recipient_id == "be-police"
    [row] = _decisions(live_hub)
    assert (row.report_id, row.recipient_id, row.decision, row.classification) == (
        report_id,
        "be-section",
        "forward",
        "sexual_exploitation_travel_tourism",
    )
    police = _config(live_hub, "be-police")
    assert not pull_until_empty(police).failed
    received = _received_forward(police, report_id)
    assert received.opening.additions == ForwardAdditions(
        classification="sexual_exploitation_travel_tourism", note="Enough usable information."
    )


def test_needs_information_is_refused_where_the_reporter_did_not_consent_to_contact(
    live_hub: LiveHub,
) -> None:
    _, packet_id = _received(live_hub, "be-section")  # an anonymous reporter
    with pytest.raises(TriageRefused, match="did not consent to be contacted"):
        triage_report(
            _config(live_hub, "be-section"),
            packet_id,
            decision=Decision.needs_information,
            classification="insufficient_information",
        )
    assert _decisions(live_hub) == []


def test_needs_information_is_recorded_where_the_reporter_consented(live_hub: LiveHub) -> None:
    _, packet_id = _received(live_hub, "be-section", CONTACT)
    result = triage_report(
        _config(live_hub, "be-section"),
        packet_id,
        decision=Decision.needs_information,
        classification="insufficient_information",
        reason_code="suspect_description_missing",
    )
    assert result.forward is None
    assert [(r.decision, r.reason_code) for r in _decisions(live_hub)] == [
        ("needs_information", "suspect_description_missing")
    ]


def test_a_decision_and_an_outcome_recorded_by_the_connector_are_noted_for_the_reading_room(
    live_hub: LiveHub,
) -> None:
    report_id, packet_id = _received(live_hub, "be-section")
    config = _config(live_hub, "be-section")
    triage_report(
        config,
        packet_id,
        decision=Decision.close,
        classification="not_within_scope",
        reason_code="not_within_scope",
    )
    record_outcome(config, packet_id, "no_action")
    noted = Ledger(config.store_dir).get(report_id)
    assert (noted.decision, noted.classification, noted.reason_code, noted.outcome) == (
        "close",
        "not_within_scope",
        "not_within_scope",
        "no_action",
    )


def test_a_code_the_network_does_not_know_is_refused_and_nothing_is_forwarded(
    live_hub: LiveHub,
) -> None:
    _, packet_id = _received(live_hub, "be-section")
    with pytest.raises(HubRefused) as refused:
        triage_report(
            _config(live_hub, "be-section"),
            packet_id,
            decision=Decision.forward,
            classification="child_prostitution",  # a term the Guidelines advise against
            to_recipient_id="be-police",
        )
    assert refused.value.status == 422
    assert refused.value.errors == [
        ("classification", "not a code of the network's classification list")
    ]
    assert _decisions(live_hub) == []
    assert _forwards(live_hub) == []


def test_the_triage_command_closes_a_report_and_refuses_contact_without_consent(
    live_hub: LiveHub,
) -> None:
    report_id, packet_id = _received(live_hub, "be-police")
    config = str(live_hub.network.connector_config("be-police"))
    refused = CliRunner().invoke(
        app,
        ["triage", "--config", config, packet_id, "--decision", "needs-information",
         "--classification", "insufficient_information"],
    )  # fmt: skip
    assert refused.exit_code == 1
    assert "did not consent to be contacted" in refused.output
    closed = CliRunner().invoke(
        app,
        ["triage", "--config", config, packet_id, "--decision", "close",
         "--classification", "not_within_scope", "--reason", "not_within_scope"],
    )  # fmt: skip
    assert closed.exit_code == 0, closed.output
    assert f"on report {report_id} recorded" in closed.output
    assert "close, not_within_scope, reason not_within_scope" in closed.output
    unknown = CliRunner().invoke(
        app,
        ["triage", "--config", config, packet_id, "--decision", "close",
         "--classification", "not_within_scope"],
    )  # fmt: skip
    assert unknown.exit_code == 1
    assert "reason_code: a close needs a reason code" in unknown.output
    assert [r.decision for r in _decisions(live_hub)] == ["close"]


@pytest.mark.parametrize(
    ("to", "refusal"),
    [
        (None, TriageRefused),  # a forward to nobody
        ("be-section", TriageRefused),  # to itself
        ("portal-be", ForwardRefused),  # not a section or police desk
        ("network-coordinator", ForwardRefused),
    ],
)
def test_a_forward_the_connector_cannot_make_records_no_decision(
    live_hub: LiveHub, to: str | None, refusal: type[Exception]
) -> None:
    _, packet_id = _received(live_hub, "be-section")
    with pytest.raises(refusal):
        triage_report(
            _config(live_hub, "be-section"),
            packet_id,
            decision=Decision.forward,
            classification="child_sexual_abuse",
            to_recipient_id=to,
        )
    assert _decisions(live_hub) == []
    assert _forwards(live_hub) == []


def test_triage_and_its_forward_log_ids_and_codes_never_content(live_hub: LiveHub) -> None:
    body_marker = "TRIAGE-LOG-MARKER-5c1e"
    reporter = {**CONTACT, "name": body_marker}
    _, packet_id = _received(live_hub, "be-section", reporter)
    with capture_logs() as logged:
        triage_report(
            _config(live_hub, "be-section"),
            packet_id,
            decision=Decision.forward,
            classification="solicitation_grooming",
            to_recipient_id="be-police",
            share_contact=True,
        )
    events = {entry["event"] for entry in logged}
    assert {"triage_recorded", "report_forwarded"} <= events
    assert body_marker not in repr(logged)
    assert "jan@example.be" not in repr(logged)
