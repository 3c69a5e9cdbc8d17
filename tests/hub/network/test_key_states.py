"""Recipient key states: sealing only to a current key, a superseded key never comes back, a
recipient without a key holds only its own copy, and the `hub keys` commands say each key's
state (docs/delivery.md, "Key states")."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select
from structlog.testing import capture_logs
from typer.testing import CliRunner

from hub.cli.main import app
from hub.delivery.retention import purge_due
from hub.delivery.rotation import revoke
from hub.network.directory import KeyPurpose, KeyState, KeyTimes, key_statuses, key_validity
from hub.settings import Settings
from hub.store import AuditEntryRow, DeliveryRow, RecipientKeyRow
from keys import KeySet, generate_keyset, write_public_keyset
from tests.clock import SHIFT_VARIABLE
from tests.conftest import ROOT, Clock, Network
from tests.factories import report_body
from tests.faults.harness import CLOCKED
from tests.hub.delivery.test_rotation import body_of, inbox, register, submit


@pytest.fixture
def operator(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The CLI pointed at the test's hub by its environment, as an operator's shell would be."""
    monkeypatch.setenv("HUB_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("HUB_DATABASE_URL", settings.resolved_database_url)
    return CliRunner()


def hub_command(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `hub` command in its own process, as an operator runs it."""
    env = {
        "HUB_DATA_DIR": str(settings.data_dir),
        "HUB_DATABASE_URL": settings.resolved_database_url,
        "PATH": "/usr/bin:/bin",
        SHIFT_VARIABLE: os.environ[SHIFT_VARIABLE],  # on the suite's clock (tests/clock.py)
    }
    return subprocess.run(
        [*CLOCKED, "hub", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
        timeout=60,
    )


def public_file(tmp_path: Path, keys: KeySet, name: str) -> Path:
    path = tmp_path / f"{name}.pub.json"
    write_public_keyset(keys.public, path, name=name)
    return path


def test_a_key_is_current_only_until_a_newer_one_starts_even_if_that_one_is_revoked() -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    old = KeyTimes(start, None)
    new = KeyTimes(start + timedelta(days=1), start + timedelta(days=2))
    keys = [old, new]
    assert key_validity(old, keys, start)[0] is KeyState.current
    assert key_validity(new, keys, start)[0] is KeyState.future
    assert key_validity(old, keys, start + timedelta(hours=30)) == (
        KeyState.superseded,
        new.valid_from,
    )
    assert key_validity(new, keys, start + timedelta(hours=30))[0] is KeyState.current
    assert key_validity(old, keys, start + timedelta(days=3))[0] is KeyState.superseded
    assert key_validity(new, keys, start + timedelta(days=3))[0] is KeyState.revoked
    assert key_validity(old, keys, start + timedelta(days=40))[0] is KeyState.expired


def test_revoking_the_newest_key_never_falls_back_to_the_one_it_replaced(
    client: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    old_id = network.keys("nl-police").public.sealing_key_id
    new = generate_keyset()
    new_id = register(engine, "nl-police", new, KeyPurpose.sealing, clock.now)
    clock.advance(minutes=1)
    with Session(engine) as session:
        revoke(session, new_id, clock.now)
    body = report_body()
    answer = client.post("/v1/reports", json=body, headers=network.auth("portal-nl"))
    assert answer.status_code == 202, answer.text
    assert inbox(client, network, "nl-police") == []
    with Session(engine) as session:
        rows = session.exec(
            select(DeliveryRow).where(DeliveryRow.recipient_id == "nl-police")
        ).all()
        states = {k.key_id: k.state for k in key_statuses(session, now=clock.now)}
    assert [(r.state, r.recipient_key_id, r.packet) for r in rows] == [
        ("awaiting_reseal", "", None)
    ]
    assert states[old_id] is KeyState.superseded
    assert states[new_id] is KeyState.revoked


def test_one_recipient_without_a_key_holds_only_its_own_copy(
    client: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    with Session(engine) as session:
        revoke(session, network.keys("nl-police").public.sealing_key_id, clock.now)
    body = report_body()
    with capture_logs() as logs:
        answer = client.post("/v1/reports", json=body, headers=network.auth("portal-nl"))
    assert answer.status_code == 202, answer.text
    routed = {r["recipient_id"] for r in answer.json()["recipients"]}
    assert "nl-police" in routed
    assert len(routed) > 1
    assert answer.json()["awaiting_key"] == ["nl-police"]
    warnings = [e for e in logs if e["event"] == "copy_awaiting_key"]
    assert [(e["log_level"], e["recipient_id"]) for e in warnings] == [("warning", "nl-police")]
    assert body["incident"]["description"] not in repr(logs)
    for other in routed - {"nl-police"}:
        assert len(inbox(client, network, other)) == 1
    status = client.get(
        f"/v1/reports/{body['report_id']}/deliveries", headers=network.auth("network-coordinator")
    ).json()
    [held] = [d for d in status["deliveries"] if d["recipient_id"] == "nl-police"]
    assert held["state"] == "awaiting_key"
    assert client.get("/v1/reseal-requests", headers=network.auth("portal-nl")).json() == {
        "report_ids": [body["report_id"]]
    }
    new = generate_keyset()
    register(engine, "nl-police", new, KeyPurpose.sealing, clock.now + timedelta(seconds=1))
    clock.advance(seconds=2)
    submit(client, network, body)
    [packet] = inbox(client, network, "nl-police")
    assert body_of(packet).recipient_key_id == new.public.sealing_key_id


def test_a_report_nobody_routed_can_receive_is_refused_with_retry_after(
    client: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    body = report_body()
    first = client.post("/v1/reports", json=body, headers=network.auth("portal-nl")).json()
    with Session(engine) as session:
        for routed in first["recipients"]:
            keys = network.keys(routed["recipient_id"])
            revoke(session, keys.public.sealing_key_id, clock.now)
    refused = client.post("/v1/reports", json=report_body(), headers=network.auth("portal-nl"))
    assert refused.status_code == 503
    assert int(refused.headers["Retry-After"]) > 0


def test_held_packets_sealed_to_a_revoked_key_are_purged_and_audited(
    client: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    submit(client, network, report_body())
    with Session(engine) as session:
        [held] = revoke(session, network.keys("nl-police").public.sealing_key_id, clock.now)
    with Session(engine) as session:
        purged = purge_due(
            session, now=clock.now, retention=timedelta(days=30), dead_retention=timedelta(days=90)
        )
        row = session.get(DeliveryRow, held)
        audit = session.exec(
            select(AuditEntryRow.entry).where(AuditEntryRow.kind == "packet_purged")
        ).all()
    assert purged == 1
    assert row is not None
    assert row.packet is None
    assert row.state == "awaiting_reseal"
    assert any(held in entry and "awaiting_reseal" in entry for entry in audit)


def test_keys_register_refuses_a_start_before_the_current_key(
    operator: CliRunner, network: Network, settings: Settings, tmp_path: Path
) -> None:
    path = public_file(tmp_path, generate_keyset(), "at-police-2")
    result = hub_command(
        settings, "keys", "register", "at-police", str(path), "--valid-from", "2001-01-01T00:00"
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "not after the start of the current sealing key" in result.stderr


def test_keys_register_converts_an_offset_to_utc_and_prints_each_state(
    operator: CliRunner, network: Network, settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    new = generate_keyset()
    path = public_file(tmp_path, new, "at-police-2")
    later = datetime.now(UTC).year + 1
    result = operator.invoke(
        app,
        ["keys", "register", "at-police", str(path), "--valid-from", f"{later}-03-01T05:00+01:00"],
    )
    assert result.exit_code == 0, result.output
    with Session(engine) as session:
        row = session.get(RecipientKeyRow, new.public.sealing_key_id)
    assert row is not None
    assert row.valid_from == datetime(later, 3, 1, 4, 0, tzinfo=UTC)
    lines = {line.split()[2]: line.split()[3] for line in result.output.splitlines()[1:]}
    assert lines[new.public.sealing_key_id] == "future"
    assert lines[network.keys("at-police").public.sealing_key_id] == "current"
    listed = operator.invoke(app, ["keys", "list", "at-police"])
    assert listed.exit_code == 0
    assert f"from {later}-03-01T04:00:00+00:00" in listed.output


def test_keys_register_for_an_unknown_recipient_says_so_in_one_line(
    network: Network, settings: Settings, tmp_path: Path
) -> None:
    path = public_file(tmp_path, generate_keyset(), "xx-police")
    result = hub_command(settings, "keys", "register", "xx-police", str(path))
    assert result.returncode == 1
    assert result.stderr == "error: no recipient xx-police: register it first (hub recipients)\n"


def test_revoking_twice_says_so_and_fails(
    operator: CliRunner, network: Network, settings: Settings
) -> None:
    key_id = network.keys("at-police").public.signing_key_id
    first = operator.invoke(app, ["keys", "revoke", key_id])
    assert first.exit_code == 0, first.output
    assert "warning: at-police has no current receipt key" in first.output
    again = hub_command(settings, "keys", "revoke", key_id)
    assert again.returncode == 1
    assert again.stderr.startswith(f"error: key {key_id} was already revoked at ")


def test_revoke_warns_when_a_recipient_is_left_without_a_sealing_key(
    operator: CliRunner, network: Network
) -> None:
    result = operator.invoke(
        app, ["keys", "revoke", network.keys("at-police").public.sealing_key_id]
    )
    assert result.exit_code == 0, result.output
    assert "warning: at-police has no current sealing key" in result.output
    assert "revoked" in result.output
