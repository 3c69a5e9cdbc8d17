"""The demo's triage (`make run`): the Belgian section forwards one report, asks for more
information on one, closes one, and the forward's receipt is verified and printed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from hub.cli.demo import play_demo
from hub.cli.demo_triage import format_triage, triage_demo
from hub.cli.main import app
from hub.http.app import create_app
from hub.http.server import serving
from hub.settings import Settings
from hub.store import CopyDeletionRow, TriageDecisionRow, make_engine
from tests.conftest import ROOT
from tests.hub.cli.test_demo import free_port


def test_the_demo_triages_three_reports_and_prints_the_forwards_verified_receipt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HUB_ROUTING_POLICY", str(ROOT / "deploy" / "routing.toml"))
    port = free_port()
    result = CliRunner().invoke(app, ["init", "--demo", "--hub-url", f"http://127.0.0.1:{port}"])
    assert result.exit_code == 0, result.output
    listing = tmp_path / "var" / "demo" / "recipients.json"
    with serving(create_app(Settings()), port=port) as url:
        play_demo(url, listing)
        triaged = triage_demo(url, listing)
    assert [d.decision.decision.value for _, d in triaged.decisions] == [
        "forward",
        "needs_information",
        "close",
    ]
    forwarded = triaged.decisions[0][1]
    assert forwarded.forward is not None
    assert forwarded.forward.deleted is not None  # the Belgian procedure: delete after forwarding
    assert triaged.receipt.recipient_id == "be-police"
    assert triaged.receipt.state == "delivered"
    assert triaged.receipt.offline.startswith("VERIFIED")
    printed = format_triage(triaged)
    assert "forward, sexual_exploitation_travel_tourism" in printed
    assert "needs_information, insufficient_information, reason suspect_description_missing" in (
        printed
    )
    assert "close, not_within_scope, reason not_within_scope" in printed
    assert "signature verified" in printed
    engine = make_engine(Settings().resolved_database_url)
    with Session(engine) as session:
        assert len(session.exec(select(TriageDecisionRow)).all()) == 3
        assert len(session.exec(select(CopyDeletionRow)).all()) == 1
    engine.dispose()
    print(printed)
