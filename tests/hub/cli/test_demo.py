"""The demo that `make run` plays: `hub init --demo`, sample reports, every delivery receipted."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from hub.cli.demo import format_outcomes, format_procedures, play_demo
from hub.cli.main import api_docs_note, app
from hub.http.app import create_app
from hub.http.server import serving
from hub.network.routing import load_policy
from hub.settings import Settings
from tests.conftest import ROOT


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_the_demo_network_is_set_up_played_and_fully_delivered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HUB_ROUTING_POLICY", str(ROOT / "deploy" / "routing.toml"))
    port = free_port()
    result = CliRunner().invoke(app, ["init", "--demo", "--hub-url", f"http://127.0.0.1:{port}"])
    assert result.exit_code == 0, result.output
    listing_path = tmp_path / "var" / "demo" / "recipients.json"
    assert str(listing_path) in result.output
    listing = json.loads(listing_path.read_text())
    assert len(listing["recipients"]) == 9
    assert len(listing["sources"]) == 5
    for entry in listing["recipients"]:
        assert stat.S_IMODE(Path(entry["keys_file"]).stat().st_mode) == 0o600
        assert stat.S_IMODE(Path(entry["credential_file"]).stat().st_mode) == 0o600
    with serving(create_app(Settings()), port=port) as url:
        outcomes = play_demo(url, listing_path)
    assert outcomes
    for outcome in outcomes:
        assert outcome.deliveries
        assert {state for _, state in outcome.deliveries} == {"delivered"}
    table = format_outcomes(outcomes)
    assert "network-coordinator" in table
    # Each country's procedure (issue 14): Belgian and Dutch reports reach the section first,
    # German and Austrian ones the police first; the other gets what the first forwards.
    reached = {o.label: {r for r, _ in o.deliveries} for o in outcomes}
    assert reached == {
        "Dutch suspect in Thailand, NL portal": {"nl-section"},
        "German suspect living in Austria, in Cambodia, AT portal": {"at-police", "de-police"},
        "Belgian suspect in Germany, international platform": {"be-section", "de-police"},
        "Unknown suspect in the Philippines, international platform": {"network-coordinator"},
    }
    procedures = format_procedures(load_policy(ROOT / "deploy" / "routing.toml"))
    assert (
        "BE Belgium      the section first; the police gets what the first forwards" in procedures
    )
    assert (
        "DE Germany      the police first; the section gets what the first forwards" in procedures
    )


def test_the_demo_points_at_the_docs_page_only_while_it_is_served(settings: Settings) -> None:
    url = "http://127.0.0.1:8000"
    off = api_docs_note(settings, url)
    assert f"{url}/openapi.json" in off
    assert "HUB_API_DOCS=true" in off
    with TestClient(create_app(settings)) as client:
        assert client.get("/docs").status_code == 404
        assert client.get("/openapi.json").status_code == 200
    on = settings.model_copy(update={"api_docs": True})
    assert api_docs_note(on, url) == f"API docs at {url}/docs"
    with TestClient(create_app(on)) as client:
        assert client.get("/docs").status_code == 200
