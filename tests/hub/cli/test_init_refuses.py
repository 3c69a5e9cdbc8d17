"""`hub init` on a database restored without the hub's key files refuses to make new keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.cli.main import app
from hub.settings import Settings
from tests.conftest import ROOT, Network


def test_hub_init_refuses_new_keys_for_a_database_whose_members_trust_the_old_ones(
    settings: Settings, network: Network, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert network.listing["recipients"]
    elsewhere = tmp_path / "restored-data"
    elsewhere.mkdir()
    monkeypatch.setenv("HUB_DATA_DIR", str(elsewhere))
    monkeypatch.setenv("HUB_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("HUB_ROUTING_POLICY", str(ROOT / "deploy" / "routing.toml"))
    result = CliRunner().invoke(app, ["init"])
    assert result.exit_code != 0
    assert "restore the hub's key folder" in str(result.exception)
    assert not Settings().hub_key_file.exists()


def test_hub_init_on_an_empty_database_makes_the_keys(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HUB_ROUTING_POLICY", str(ROOT / "deploy" / "routing.toml"))
    result = CliRunner().invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    assert Settings().hub_key_file.exists()
