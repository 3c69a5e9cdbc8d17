"""`GET /v1/reports/{id}/evidence` and `hub evidence export`: coordinators only, a 404 problem for
an unknown report, the export on record in the audit log, and never a report's content."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from connectors.recipient.evidence import verify_bundle
from hub.cli.main import app as cli
from hub.delivery.retention import purge_due
from hub.settings import Settings
from hub.store import AuditEntryRow, make_engine
from schemas.evidence import EvidenceBundle
from tests.conftest import Clock, Network
from tests.hub.delivery.test_delivery import accepted, pull, receipt_for, send_receipts

MARKER = "EVIDENCE-API-MARKER-51c0-not-for-export"
COORDINATOR = "network-coordinator"


def _export_entries(settings: Settings) -> list[dict[str, object]]:
    engine = make_engine(settings.resolved_database_url)
    try:
        with Session(engine) as session:
            rows = session.exec(
                select(AuditEntryRow.entry).where(col(AuditEntryRow.kind) == "operator_action")
            ).all()
    finally:
        engine.dispose()
    events = [json.loads(row)["event"] for row in rows]
    return [e for e in events if e["action"] == "evidence.export"]


def test_a_coordinator_exports_a_bundle_that_verifies_and_the_export_is_on_record(
    client: TestClient, network: Network, settings: Settings
) -> None:
    report_id = accepted(client, network, nationalities=("NL",), free_text=MARKER)["report_id"]
    (packet,) = pull(client, network, "nl-police")
    assert (
        send_receipts(
            client, network, "nl-police", [receipt_for(network, "nl-police", packet)]
        ).status_code
        == 200
    )
    answer = client.get(f"/v1/reports/{report_id}/evidence", headers=network.auth(COORDINATOR))
    assert answer.status_code == 200, answer.text
    assert MARKER not in answer.text
    bundle = EvidenceBundle.model_validate_json(answer.content)
    summary = verify_bundle(bundle, network.hub_trust())
    assert (summary.packets, summary.receipts) == (2, 1)  # nl-section has not pulled yet
    assert _export_entries(settings) == [
        {
            "actor": COORDINATOR,
            "role": "coordinator",
            "action": "evidence.export",
            "subject": report_id,
        }
    ]


def test_an_unknown_report_is_a_404_problem(client: TestClient, network: Network) -> None:
    answer = client.get(f"/v1/reports/{uuid4()}/evidence", headers=network.auth(COORDINATOR))
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["detail"] == "no such report"


@pytest.mark.parametrize("party", ["portal-nl", "nl-section", "nl-police"])
def test_a_non_coordinator_gets_403(client: TestClient, network: Network, party: str) -> None:
    report_id = accepted(client, network, nationalities=("NL",))["report_id"]
    answer = client.get(f"/v1/reports/{report_id}/evidence", headers=network.auth(party))
    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/problem+json"
    assert "payload" not in answer.text


def test_hub_evidence_export_writes_the_bundle_or_says_the_report_is_unknown(
    client: TestClient,
    network: Network,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    report_id = accepted(client, network, nationalities=("NL",), free_text=MARKER)["report_id"]
    monkeypatch.setenv("HUB_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("HUB_DATABASE_URL", settings.resolved_database_url)
    out = tmp_path / "evidence.json"
    result = CliRunner().invoke(cli, ["evidence", "export", report_id, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (
        f"wrote the evidence of report {report_id} to {out}: 2 packet(s), 0 receipt(s)"
        in result.output
    )
    assert MARKER not in out.read_text(encoding="utf-8")
    verify_bundle(EvidenceBundle.model_validate_json(out.read_bytes()), network.hub_trust())
    assert _export_entries(settings)[0]["role"] == "administrator"
    unknown = CliRunner().invoke(cli, ["evidence", "export", str(uuid4()), "--out", str(out)])
    assert unknown.exit_code == 1


def test_a_bundle_after_retention_purged_a_packet_still_verifies_its_receipt_against_the_log(
    client: TestClient, network: Network, settings: Settings, clock: Clock
) -> None:
    report_id = accepted(client, network, nationalities=("NL",))["report_id"]
    (packet,) = pull(client, network, "nl-police")
    receipt = receipt_for(network, "nl-police", packet)
    assert send_receipts(client, network, "nl-police", [receipt]).status_code == 200
    engine = make_engine(settings.resolved_database_url)
    try:
        with Session(engine) as session:
            clock.advance(days=31)
            purged = purge_due(
                session,
                now=clock(),
                retention=timedelta(days=30),
                dead_retention=timedelta(days=90),
            )
    finally:
        engine.dispose()
    assert purged == 1
    answer = client.get(f"/v1/reports/{report_id}/evidence", headers=network.auth(COORDINATOR))
    bundle = EvidenceBundle.model_validate_json(answer.content)
    assert [p.envelope is None for p in bundle.packets].count(True) == 1
    summary = verify_bundle(bundle, network.hub_trust())
    assert (summary.purged, summary.receipts) == (1, 1)
