"""The annual report (standard S4): per line and for the network, the year's reports by category,
classification, incident country and routing rule, decisions, outcomes, processing time against
48 hours, deliveries; the same figures from the command and the API; HTML and PDF for people."""

from __future__ import annotations

import io
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import Engine, text
from sqlmodel import Session
from typer.testing import CliRunner

from hub.cli.main import app
from hub.oversight.annual import annual_report
from hub.oversight.annual_render import render_html, render_pdf
from hub.settings import Settings
from hub.store import OutcomeRow, ReportFactRow, ReportFeedbackRow, TriageDecisionRow
from schemas.report import Category
from tests.conftest import Clock, Network
from tests.factories import report_body
from tests.hub.delivery.test_delivery import pull, receipt_for, send_receipts

MARKER = "ANNUAL-MARKER-3c7f"
COORDINATOR = "network-coordinator"
CLASSIFICATIONS = (
    "sexual_exploitation_in_travel",
    "grooming",
    "child_sexual_abuse_material",
    "trafficking_for_sexual_purposes",
)


def submit(
    client: TestClient,
    network: Network,
    source: str,
    *,
    country: str,
    nationality: str | None,
    category: str = "travel_and_tourism",
) -> str:
    body = report_body(source, country=country, nationalities=(nationality,), free_text=MARKER)
    body["category"] = category
    answer = client.post("/v1/reports", json=body, headers=network.auth(source))
    assert answer.status_code == 202, answer.text
    return str(body["report_id"])


def receive_all(client: TestClient, network: Network, recipient: str) -> None:
    while packets := pull(client, network, recipient):
        receipts = [receipt_for(network, recipient, p) for p in packets]
        assert send_receipts(client, network, recipient, receipts).status_code == 200


def decide(
    engine: Engine,
    report_id: str,
    recipient: str,
    decision: str,
    at: datetime,
    classification: str = "grooming",
) -> None:
    with Session(engine) as session:
        session.add(
            TriageDecisionRow(
                decision_id=str(uuid4()),
                report_id=report_id,
                recipient_id=recipient,
                decision=decision,
                classification=classification,
                reason_code="no_jurisdiction" if decision == "close" else None,
                decided_at=at,
                recorded_at=at,
            )
        )
        session.commit()


def attach_outcome(engine: Engine, report_id: str, recipient: str, code: str, at: datetime) -> None:
    with Session(engine) as session:
        session.add(
            OutcomeRow(report_id=report_id, recipient_id=recipient, outcome=code, recorded_at=at)
        )
        session.commit()


def keys_valid_since(engine: Engine, since: datetime) -> None:
    """The demo's keys as if registered long ago, so that reports can be played in the past."""
    with engine.begin() as connection:
        connection.execute(text("UPDATE recipient_keys SET valid_from = :t"), {"t": since})


def get_annual(client: TestClient, network: Network, query: str = "") -> Any:
    answer = client.get(f"/v1/reports/annual{query}", headers=network.auth(COORDINATOR))
    assert answer.status_code == 200, answer.text
    return answer.json()


def line(report: dict[str, Any], scope: str) -> dict[str, Any]:
    if scope == "network":
        network: dict[str, Any] = report["network"]
        return network
    return next(figures for figures in report["lines"] if figures["scope"] == scope)


# The figures, exactly, for three reports


def test_intake_keeps_the_incident_country_and_category_and_nothing_else_of_the_content(
    client: TestClient, network: Network, engine: Engine
) -> None:
    report_id = submit(client, network, "portal-nl", country="KH", nationality="NL",
                       category="online")  # fmt: skip
    with Session(engine) as session:
        facts = session.get(ReportFactRow, report_id)
        assert facts is not None
        assert facts.model_dump() == {
            "report_id": report_id,
            "incident_country": "KH",
            "category": "online",
        }
    assert set(ReportFactRow.model_fields) == {"report_id", "incident_country", "category"}


def test_the_coded_fields_the_hub_keeps_are_exactly_those_the_threat_model_lists() -> None:
    """docs/threat-model.md (P58) names each: a new column here is a decision to write there."""
    ids_and_times = {"report_id", "recipient_id", "decision_id", "decided_at", "recorded_at"}
    coded = {
        ReportFactRow: {"incident_country", "category"},
        ReportFeedbackRow: {"contact_consent", "status_seen_at", "last_status_at"},
        TriageDecisionRow: {"decision", "classification", "reason_code"},
        OutcomeRow: {"outcome"},
    }
    for row, fields in coded.items():
        assert set(row.model_fields) - ids_and_times == fields, row.__name__


def test_each_line_counts_the_reports_routed_to_it_its_decisions_outcomes_and_times(
    client: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    # To NL's police and section (the suspect's nationality; the section behind the portal).
    dutch = submit(client, network, "portal-nl", country="TH", nationality="NL")
    intake_nl = clock()
    clock.advance(hours=1)
    # To BE (where it happened; the portal's section) and to DE (the suspect's nationality).
    belgian = submit(client, network, "portal-be", country="BE", nationality="DE",
                     category="online")  # fmt: skip
    intake_be = clock()
    # No member can act: the coordinator alone.
    submit(client, network, "platform-int", country="KH", nationality="FR", category="other")
    for recipient in ("nl-police", "nl-section", "de-police", "de-section", "be-section"):
        receive_all(client, network, recipient)
    clock.advance(hours=100)

    decide(engine, dutch, "nl-section", "needs_information", intake_nl + timedelta(hours=10))
    decide(engine, dutch, "nl-section", "forward", intake_nl + timedelta(hours=60))
    attach_outcome(engine, dutch, "nl-section", "closed", clock())
    attach_outcome(engine, dutch, "nl-police", "investigation_opened", clock())
    decide(engine, belgian, "be-section", "close", intake_be + timedelta(hours=50), "other")
    decide(engine, belgian, "de-section", "forward", intake_be + timedelta(hours=3))
    attach_outcome(engine, belgian, "be-police", "no_action", clock())
    attach_outcome(engine, belgian, "de-police", "conviction", clock())

    report = get_annual(client, network)
    assert report["year"] == clock().year
    assert report["start"].startswith(f"{clock().year}-01-01T00:00:00")
    assert [f["scope"] for f in report["lines"]] == ["AT", "BE", "DE", "NL"]

    nl = line(report, "NL")
    assert nl["reports"] == 1
    assert nl["from_line_portal"] == 1
    assert nl["by_category"] == {"travel_and_tourism": 1, "online": 0, "trafficking": 0,
                                 "other": 0}  # fmt: skip
    assert nl["by_incident_country"] == {"TH": 1}
    assert nl["by_classification"] == {"grooming": 1}
    assert nl["by_routing_rule"] == {"source-section": 1, "suspect-nationality": 1}
    assert nl["decisions"] == {"forward": 1, "needs_information": 0, "close": 0, "none": 0}
    # The police's investigation outweighs the section's "closed".
    assert nl["outcomes"]["investigation_opened"] == 1
    assert sum(nl["outcomes"].values()) == 1
    # Ten hours to the first decision (needs information), not sixty to the forward.
    assert nl["processing"]["decided"] == 1
    assert nl["processing"]["within_limit"] == 1
    assert nl["processing"]["median_hours"] == 10.0
    assert nl["deliveries"] == {"packets": 2, "receipts": 2, "dead_letters": 0, "in_transit": 0}

    be = line(report, "BE")
    assert (be["reports"], be["from_line_portal"]) == (1, 1)
    assert be["by_incident_country"] == {"BE": 1}
    assert be["by_routing_rule"] == {"incident-country": 1, "source-section": 1}
    assert be["decisions"]["close"] == 1
    assert be["by_classification"] == {"other": 1}
    assert be["outcomes"]["no_action"] == 1
    # Fifty hours is over the limit: weekends and nights count.
    assert be["processing"]["within_limit"] == 0
    assert be["processing"]["share_within_limit"] == 0.0
    assert be["deliveries"] == {"packets": 2, "receipts": 1, "dead_letters": 0, "in_transit": 1}

    de = line(report, "DE")
    assert (de["reports"], de["from_line_portal"]) == (1, 0)
    assert de["by_routing_rule"] == {"suspect-nationality": 1}
    assert de["outcomes"]["conviction"] == 1
    assert de["processing"]["median_hours"] == 3.0

    assert line(report, "AT")["reports"] == 0
    assert line(report, "AT")["processing"]["share_within_limit"] is None

    whole = line(report, "network")
    assert whole["reports"] == 3
    assert whole["from_line_portal"] is None
    assert whole["by_category"] == {"travel_and_tourism": 1, "online": 1, "trafficking": 0,
                                    "other": 1}  # fmt: skip
    assert whole["by_routing_rule"] == {
        "source-section": 2,
        "suspect-nationality": 2,
        "coordinator-fallback": 1,
        "incident-country": 1,
    }
    assert whole["decisions"] == {"forward": 1, "needs_information": 0, "close": 1, "none": 1}
    assert whole["outcomes"]["investigation_opened"] == 1
    assert whole["outcomes"]["conviction"] == 1
    assert whole["outcomes"]["none"] == 1
    assert whole["processing"]["decided"] == 2
    assert whole["processing"]["within_limit"] == 2  # the first decisions: 10 h and 3 h
    assert whole["processing"]["undecided"] == 1
    assert whole["processing"]["undecided_over_limit"] == 1  # 100 hours and waiting
    histogram = whole["processing"]["histogram"]
    assert sum(bar["reports"] for bar in histogram) == 2
    assert [bar["to_hours"] for bar in histogram] == [6.0, 12.0, 24.0, 48.0, 72.0, 168.0, None]
    assert histogram[0]["reports"] == 1
    assert histogram[1]["reports"] == 1

    only_be = get_annual(client, network, "?country=BE")
    assert only_be["network"] is None
    assert only_be["lines"] == [be]
    for secret in (MARKER, dutch, belgian, "Pattaya"):
        assert secret not in json.dumps(report)


def test_a_report_of_another_year_is_not_counted(
    client: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    year = clock().year
    keys_valid_since(engine, datetime(year - 1, 1, 1, tzinfo=UTC))
    clock.now = datetime(year - 1, 12, 31, 23, 59, tzinfo=UTC)
    submit(client, network, "portal-at", country="TH", nationality="AT")
    clock.now = datetime(year, 1, 1, 0, 0, tzinfo=UTC)
    submit(client, network, "portal-at", country="TH", nationality="AT")
    clock.now = datetime.now(UTC)
    assert line(get_annual(client, network), "AT")["reports"] == 1
    assert line(get_annual(client, network, f"?year={year - 1}"), "AT")["reports"] == 1


# Who may ask, and what a bad question gets


@pytest.mark.parametrize("party", ["portal-nl", "nl-section", "nl-police"])
def test_only_a_coordinator_gets_the_annual_report(
    client: TestClient, network: Network, party: str
) -> None:
    answer = client.get("/v1/reports/annual", headers=network.auth(party))
    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?year=1999", "year"),
        ("?year=NEXT", "year"),
        ("?year=twenty", "year"),
        ("?country=XX", "country"),
        ("?country=FR", "country"),
    ],
)
def test_a_bad_year_or_country_gets_422_naming_the_field_and_the_reason(
    client: TestClient, network: Network, clock: Clock, query: str, field: str
) -> None:
    query = query.replace("NEXT", str(clock().year + 1))
    answer = client.get(f"/v1/reports/annual{query}", headers=network.auth(COORDINATOR))
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["errors"]
    assert error["field"] == field
    assert error["reason"]


# A demo-like year: the command equals the API; HTML and PDF render


@dataclass
class Year:
    report_ids: list[str]


def play_a_year(client: TestClient, network: Network, engine: Engine, clock: Clock) -> Year:
    """Sixty days of reports from every portal, received by most recipients, triaged by the
    sections with times on both sides of 48 hours, outcomes from the police, one dead letter."""
    rng = random.Random(15)
    now = clock()
    start = now - timedelta(days=60)
    keys_valid_since(engine, start - timedelta(days=1))
    portals = ["portal-at", "portal-be", "portal-de", "portal-nl", "platform-int"]
    incident = ["TH", "TH", "KH", "PH", "VN", "BR", "KE", "DE", "ES", "BE"]
    nationality = ["AT", "BE", "DE", "NL", "NL", "DE", "FR", None]
    categories = [c.value for c in Category]
    reports: list[tuple[str, datetime]] = []
    for n in range(48):
        clock.now = start + timedelta(hours=29 * n + rng.randint(0, 5))
        category = categories[0] if rng.random() < 0.55 else rng.choice(categories)
        report_id = submit(
            client,
            network,
            portals[n % len(portals)],
            country=rng.choice(incident),
            nationality=rng.choice(nationality),
            category=category,
        )
        reports.append((report_id, clock()))
    clock.now = now
    for recipient in network.recipient_ids:
        if recipient != "at-police":  # leaves packets in transit
            receive_all(client, network, recipient)
    with engine.begin() as connection:
        routed = connection.execute(
            text("SELECT report_id, recipient_id FROM deliveries WHERE state = 'delivered'")
        ).all()
        connection.execute(
            text(
                "UPDATE deliveries SET state = 'dead', dead_at = :t, delivered_at = NULL, "
                "receipt = NULL WHERE report_id = :r AND recipient_id = 'be-section'"
            ),
            {"t": now, "r": next(r for r, who in routed if who == "be-section")},
        )
    accepted = dict(reports)
    for report_id, recipient in routed:
        if recipient.endswith("-section") and rng.random() < 0.88:
            hours = rng.choice([1.5, 4, 9, 17, 26, 40, 47, 55, 70, 130, 300])
            decision = rng.choice(["forward"] * 6 + ["needs_information"] * 2 + ["close"] * 2)
            decide(
                engine,
                report_id,
                recipient,
                decision,
                accepted[report_id] + timedelta(hours=hours),
                rng.choice(CLASSIFICATIONS),
            )
        if recipient.endswith("-police") and rng.random() < 0.7:
            code = rng.choice(["investigation_opened"] * 3 + ["conviction", "no_action"] * 1
                              + ["under_assessment"])  # fmt: skip
            attach_outcome(engine, report_id, recipient, code, now)
    return Year(report_ids=[r for r, _ in reports])


@pytest.fixture
def operator(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("HUB_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("HUB_DATABASE_URL", settings.resolved_database_url)
    return CliRunner()


def _without_time(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k != "generated_at"}


def test_the_commands_figures_equal_the_apis(
    client: TestClient,
    network: Network,
    engine: Engine,
    clock: Clock,
    operator: CliRunner,
) -> None:
    year = play_a_year(client, network, engine, clock)
    clock.now = datetime.now(UTC)
    for options, query in (
        (["--year", str(clock().year)], ""),
        (["--country", "be"], "?country=BE"),
    ):
        shown = operator.invoke(app, ["report", "annual", "--format", "json", *options])
        assert shown.exit_code == 0, shown.output
        assert _without_time(json.loads(shown.output)) == _without_time(
            get_annual(client, network, query)
        )
    whole = line(get_annual(client, network), "network")
    assert whole["reports"] == len(year.report_ids)
    for breakdown in ("by_category", "by_incident_country", "by_classification", "decisions",
                      "outcomes"):  # fmt: skip
        assert sum(whole[breakdown].values()) == whole["reports"], breakdown
    processing = whole["processing"]
    assert processing["decided"] + processing["undecided"] == whole["reports"]
    assert 0 < processing["within_limit"] < processing["decided"]
    assert whole["deliveries"]["dead_letters"] == 1
    assert whole["deliveries"]["in_transit"] > 0
    refused = operator.invoke(app, ["report", "annual", "--year", "1999"])
    assert refused.exit_code != 0


def test_the_html_and_the_pdf_show_the_figures_and_no_content(
    client: TestClient,
    network: Network,
    engine: Engine,
    clock: Clock,
    settings: Settings,
    operator: CliRunner,
    tmp_path: Path,
) -> None:
    year = play_a_year(client, network, engine, clock)
    clock.now = datetime.now(UTC)
    with Session(engine) as session:
        report = annual_report(session, year=clock().year, now=clock(), limit_hours=48.0)
    html = render_html(report)
    assert html.count('class="card line"') == 5  # the network and four lines
    assert "<script" not in html
    assert "http" not in html.replace("http-equiv", "")  # nothing loaded from elsewhere
    for figures in [report.network, *report.lines]:
        assert figures is not None
        assert f'data-scope="{figures.scope}"' in html
    pdf_bytes = render_pdf(report)
    assert pdf_bytes.startswith(b"%PDF-")
    pages = PdfReader(io.BytesIO(pdf_bytes)).pages
    shown = "\n".join(page.extract_text() for page in pages)
    assert f"Annual report {report.year}" in shown
    assert report.network is not None
    network_figures = report.network
    assert f"{network_figures.processing.within_limit} of {network_figures.processing.decided}" in (
        shown
    )
    for title in ("Belgium (BE)", "Austria (AT)", "The network", "limit 48 h"):
        assert title in shown, title
    for secret in (MARKER, "Pattaya", *year.report_ids):
        assert secret not in html
        assert secret not in shown
    out = tmp_path / "annual.pdf"
    written = operator.invoke(app, ["report", "annual", "--format", "pdf", "--out", str(out)])
    assert written.exit_code == 0, written.output
    assert out.read_bytes().startswith(b"%PDF-")
    assert operator.invoke(app, ["report", "annual", "--format", "pdf"]).exit_code != 0
    page = tmp_path / "annual.html"
    assert (
        operator.invoke(app, ["report", "annual", "--format", "html", "--out", str(page)]).exit_code
        == 0
    )
    assert 'data-scope="network"' in page.read_text(encoding="utf-8")
