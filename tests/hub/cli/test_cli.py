"""The `hub` commands an operator uses for keys and dead letters."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from typer.testing import CliRunner

from hub.cli.main import app
from hub.settings import Settings
from hub.store import DeliveryRow, RecipientKeyRow, make_engine
from keys import generate_keyset, write_public_keyset
from tests.conftest import Network
from tests.factories import report_body


@pytest.fixture
def operator(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The CLI pointed at the test's hub by its environment, as an operator's shell would be."""
    monkeypatch.setenv("HUB_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("HUB_DATABASE_URL", settings.resolved_database_url)
    return CliRunner()


def test_keys_register_then_revoke(
    operator: CliRunner, network: Network, settings: Settings, tmp_path: Path
) -> None:
    new = generate_keyset()
    public = tmp_path / "at-police-2.pub.json"
    write_public_keyset(new.public, public, name="at-police")
    registered = operator.invoke(app, ["keys", "register", "at-police", str(public)])
    assert registered.exit_code == 0, registered.output
    assert new.public.sealing_key_id in registered.output
    old = network.keys("at-police").public.sealing_key_id
    revoked = operator.invoke(app, ["keys", "revoke", old])
    assert revoked.exit_code == 0, revoked.output
    engine = make_engine(settings.resolved_database_url)
    with Session(engine) as session:
        row = session.get(RecipientKeyRow, old)
        assert row is not None
        assert row.revoked_at is not None
    engine.dispose()


def test_deliveries_dead_and_retry(
    operator: CliRunner, network: Network, settings: Settings, client: TestClient
) -> None:
    body = report_body()
    answer = client.post("/v1/reports", json=body, headers=network.auth("portal-nl"))
    assert answer.status_code == 202
    engine = make_engine(settings.resolved_database_url)
    with Session(engine) as session:
        row = session.exec(select(DeliveryRow)).first()
        assert row is not None
        row.state, row.dead_at, row.last_error = "dead", datetime.now(UTC), "HTTP 410"
        session.add(row)
        session.commit()
        packet_id = row.packet_id
    listed = operator.invoke(app, ["deliveries", "dead"])
    assert packet_id in listed.output
    assert "HTTP 410" in listed.output
    assert operator.invoke(app, ["deliveries", "retry"]).exit_code == 1
    retried = operator.invoke(app, ["deliveries", "retry", "--all-dead"])
    assert "re-driven: 1" in retried.output
    with Session(engine) as session:
        again = session.get(DeliveryRow, packet_id)
        assert again is not None
        assert again.state == "pending"
    engine.dispose()
