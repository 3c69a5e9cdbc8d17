"""`hub db backup` and `hub db restore` on the embedded SQLite database."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlmodel import Session, col, select, update
from typer.testing import CliRunner

from hub.cli.main import app
from hub.settings import Settings
from hub.store import RecipientRow, make_engine
from tests.conftest import ROOT, Network


def _recipients(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return sorted(session.exec(select(col(RecipientRow.name))).all())
    finally:
        engine.dispose()


@pytest.mark.engine("sqlite")
def test_a_backup_restored_brings_back_what_was_lost_since(
    settings: Settings, network: Network, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = settings.resolved_database_url
    monkeypatch.setenv("HUB_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("HUB_DATABASE_URL", url)
    monkeypatch.setenv("HUB_ROUTING_POLICY", str(ROOT / "deploy" / "routing.toml"))
    registered = _recipients(url)
    assert registered
    out = tmp_path / "backups" / "hub.db"
    result = CliRunner().invoke(app, ["db", "backup", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    engine = make_engine(url)
    with Session(engine) as session:
        session.exec(update(RecipientRow).values(name="changed after the backup"))
        session.commit()
    engine.dispose()
    assert _recipients(url) != registered
    result = CliRunner().invoke(app, ["db", "restore", str(out)])
    assert result.exit_code == 0, result.output
    assert _recipients(url) == registered
