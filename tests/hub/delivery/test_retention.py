"""Retention: sealed bytes are purged after their receipt (dead ones later); receipts stay."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from hub.crypto import open_packet, sign_receipt
from hub.delivery.retention import purge_due
from hub.store import DeliveryRow
from schemas.envelope import Envelope, PacketBody
from tests.conftest import Clock, Network
from tests.factories import report_body

RETENTION = timedelta(days=30)
DEAD_RETENTION = timedelta(days=90)


def purge(engine: Engine, now: datetime) -> int:
    with Session(engine) as session:
        return purge_due(session, now=now, retention=RETENTION, dead_retention=DEAD_RETENTION)


def deliver_one(client: TestClient, network: Network, clock: Clock) -> tuple[str, bytes]:
    """Submit, pull and receipt one packet for nl-police; return its id and sealed bytes."""
    body = report_body()
    assert (
        client.post("/v1/reports", json=body, headers=network.auth("portal-nl")).status_code == 202
    )
    [raw] = client.get("/v1/inbox", headers=network.auth("nl-police")).json()["packets"]
    packet = Envelope.model_validate(raw)
    keys = network.keys("nl-police")
    assert keys.sealing is not None
    opened = open_packet(packet, hub_keys=network.hub_trust(), private=keys.sealing)
    receipt = sign_receipt(
        packet=opened.body,
        sealed_sha256=opened.sealed_sha256,
        received_at=clock.now,
        key=keys.signing,
    )
    answer = client.post(
        "/v1/receipts",
        json={"receipts": [receipt.model_dump(mode="json")]},
        headers=network.auth("nl-police"),
    )
    assert answer.status_code == 200
    sealed = base64.b64decode(
        PacketBody.model_validate_json(base64.b64decode(packet.payload)).sealed
    )
    return str(opened.body.packet_id), sealed


def test_sealed_bytes_are_purged_after_the_retention_and_the_receipt_stays(
    client: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    packet_id, _ = deliver_one(client, network, clock)
    assert purge(engine, clock.now + RETENTION - timedelta(seconds=1)) == 0
    assert purge(engine, clock.now + RETENTION) == 1
    with Session(engine) as session:
        row = session.get(DeliveryRow, packet_id)
        assert row is not None
        assert row.packet is None
        assert row.purged_at is not None
        assert row.receipt is not None
        assert row.sealed_sha256


def test_purged_bytes_are_gone_from_the_database_files(
    client: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    _, sealed = deliver_one(client, network, clock)
    encoded = base64.b64encode(sealed)
    purge(engine, clock.now + RETENTION)
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        database = engine.url.database
        assert database is not None
        content = b"".join(path.read_bytes() for path in Path(database).parent.glob("hub.db*"))
        assert encoded[:40] not in content
    with engine.connect() as connection:
        dump = repr(connection.execute(text("SELECT * FROM deliveries")).all())
    assert encoded[:40].decode() not in dump


def test_pending_packets_are_never_purged(
    client: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    body = report_body()
    assert (
        client.post("/v1/reports", json=body, headers=network.auth("portal-nl")).status_code == 202
    )
    assert purge(engine, clock.now + timedelta(days=3650)) == 0


def test_dead_packets_are_purged_after_the_longer_horizon(
    client: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    body = report_body()
    assert (
        client.post("/v1/reports", json=body, headers=network.auth("portal-nl")).status_code == 202
    )
    with Session(engine) as session:
        row = session.exec(select(DeliveryRow)).first()
        assert row is not None
        row.state = "dead"
        row.dead_at = datetime.now(UTC)
        session.add(row)
        session.commit()
        dead_at = row.dead_at
    assert purge(engine, dead_at + RETENTION) == 0
    assert purge(engine, dead_at + DEAD_RETENTION) == 1
