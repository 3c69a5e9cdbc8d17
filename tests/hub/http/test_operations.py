"""Operations: liveness, readiness, Prometheus metrics, and jobs that run once per fleet."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from hub.crypto import open_packet, sign_receipt
from hub.delivery.jobs import claim_run
from schemas.envelope import Envelope
from tests.conftest import Clock, Network
from tests.factories import report_body


def test_healthz_and_readyz_answer(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready"
    assert ready["hub_key"].startswith("ed25519:")


def test_metrics_count_reports_deliveries_and_latency(
    client: TestClient, network: Network, clock: Clock
) -> None:
    body = report_body()
    client.post("/v1/reports", json=body, headers=network.auth("portal-nl"))
    [raw] = client.get("/v1/inbox", headers=network.auth("nl-police")).json()["packets"]
    keys = network.keys("nl-police")
    assert keys.sealing is not None
    opened = open_packet(
        Envelope.model_validate(raw), hub_keys=network.hub_trust(), private=keys.sealing
    )
    clock.advance(seconds=42)
    receipt = sign_receipt(
        packet=opened.body,
        sealed_sha256=opened.sealed_sha256,
        received_at=clock.now,
        key=keys.signing,
    )
    client.post(
        "/v1/receipts",
        json={"receipts": [receipt.model_dump(mode="json")]},
        headers=network.auth("nl-police"),
    )
    text = client.get("/metrics").text
    assert "hub_reports_accepted_total 1.0" in text
    assert 'hub_deliveries{recipient="nl-police",state="delivered"} 1.0' in text
    assert 'hub_deliveries{recipient="nl-section",state="pending"} 1.0' in text
    assert "hub_dead_letters 0.0" in text
    assert 'hub_delivery_latency_seconds_bucket{le="60.0"} 1.0' in text
    assert 'hub_delivery_latency_seconds_bucket{le="30.0"} 0.0' in text


def test_a_fleet_wide_job_runs_once_per_interval_whoever_asks(engine: Engine) -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    interval = timedelta(hours=1)
    with ThreadPoolExecutor(6) as pool:
        taken = list(
            pool.map(lambda _: claim_run(engine, "purge", now=now, interval=interval), range(6))
        )
    assert taken.count(True) == 1
    assert not claim_run(engine, "purge", now=now + interval / 2, interval=interval)
    assert claim_run(engine, "purge", now=now + interval, interval=interval)
