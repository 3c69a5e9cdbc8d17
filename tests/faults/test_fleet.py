"""Several hub processes share one PostgreSQL: nothing is delivered twice or missed; and a hub
stopped gracefully finishes what it claimed."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from sqlmodel import Session, select

from hub.network.keyring import create_hub_keys
from hub.settings import Settings
from hub.store import DeliveryRow, make_engine, upgrade
from tests.conftest import admin_sql, provision
from tests.factories import copies_at_once_policy
from tests.faults.audit_check import audit_log_verdict
from tests.faults.harness import (
    FaultProxy,
    Submitter,
    check_exactly_once,
    free_port,
    hub_process,
    make_push_recipient,
    pulling,
    receiver_process,
    redeliveries,
    running,
    sample_bodies,
    undelivered,
    wait_until,
)
from tests.postgres import PostgresServer

PUSH = ["at-police", "be-police", "de-police", "nl-police"]
PULL = ["at-section", "be-section", "de-section", "nl-section", "network-coordinator"]

pytestmark = pytest.mark.faults


@pytest.fixture
def postgres_settings(postgres_server: PostgresServer, tmp_path: Path) -> Settings:
    """A hub on its own PostgreSQL database, whatever engines the run was asked for."""
    name = f"fleet_{uuid4().hex}"
    admin_sql(postgres_server, f"CREATE DATABASE {name}")
    settings = Settings(
        data_dir=tmp_path / "hub-data",
        database_url=postgres_server.url(name),
        routing_policy=copies_at_once_policy(tmp_path),
    )
    upgrade(settings.resolved_database_url)
    create_hub_keys(settings)
    return settings


def test_three_hub_processes_on_one_postgresql_deliver_everything_exactly_once(
    postgres_settings: Settings,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    fault_figures: list[dict[str, Any]],
) -> None:
    settings = postgres_settings
    reports = request.config.getoption("fault_reports")
    hubs = [hub_process(settings, free_port(), tmp_path / f"hub-{i}.log") for i in range(3)]
    network = provision(settings, tmp_path / "parties", hubs[0].url)
    receivers = []
    for recipient in PUSH:
        port = free_port()
        config = make_push_recipient(
            settings, network, recipient, f"http://127.0.0.1:{port}/packets"
        )
        receivers.append(receiver_process(config, port, tmp_path / f"{recipient}.log"))
    urls = [hub.url for hub in hubs]
    submitter = Submitter(urls, network, sample_bodies(reports, seed=3))
    started = time.monotonic()
    with running(*receivers, *hubs), pulling(network, PULL, urls) as tally:
        submitter.run()
        wait_until(lambda: undelivered(settings) == 0, 300, "every delivery receipted")
        seconds = time.monotonic() - started
        figures = check_exactly_once(settings, network, submitter.acknowledged)
    engine = make_engine(settings.resolved_database_url)
    with Session(engine) as session:
        pushed = session.exec(
            select(DeliveryRow).where(DeliveryRow.recipient_id.in_(PUSH))  # type: ignore[attr-defined]
        ).all()
    engine.dispose()
    again = redeliveries(settings, [tmp_path / f"{r}.log" for r in PUSH], tally)
    twice = again["pushes_absorbed"] + again["pulls_absorbed"]
    assert twice == 0, "a packet was handed out twice"
    assert all(row.attempts == 1 for row in pushed), "a push was claimed more than once"
    audit_log = audit_log_verdict(settings)  # three processes appended: no gap, no duplicate
    assert audit_log.verified, audit_log.problems[:5]
    fault_figures.append(
        {
            "test": "three hub processes, one PostgreSQL",
            "reports": reports,
            **figures,
            "push_deliveries": len(pushed),
            **again,
            "audit_entries": audit_log.entries,
            "seconds": round(seconds, 1),
        }
    )


def test_a_hub_stopped_gracefully_finishes_the_push_it_claimed(
    settings: Settings, tmp_path: Path
) -> None:
    port, receiver_port, proxy_port = free_port(), free_port(), free_port()
    hub = hub_process(settings, port, tmp_path / "hub.log")
    hub.env["HUB_PUSH_TIMEOUT_SECONDS"] = "10"
    network = provision(settings, tmp_path / "parties", hub.url)
    config = make_push_recipient(
        settings, network, "nl-police", f"http://127.0.0.1:{proxy_port}/packets"
    )
    receiver = receiver_process(config, receiver_port, tmp_path / "nl-police.log")
    proxy = FaultProxy(receiver.url, slow_seconds=2.0)
    proxy.mode = "slow"
    bodies = [b for b in sample_bodies(30, seed=5) if "NL" in str(b["suspects"])][:1]
    with running(receiver, hub), proxy.serving(proxy_port):
        Submitter(hub.url, network, bodies).run()
        wait_until(
            lambda: proxy.forwarded == 0 and _claimed(settings), 20, "the push to be claimed"
        )
        assert hub.proc is not None
        hub.proc.send_signal(signal.SIGTERM)
        hub.proc.wait(timeout=30)
        engine = make_engine(settings.resolved_database_url)
        with Session(engine) as session:
            rows = session.exec(
                select(DeliveryRow).where(DeliveryRow.recipient_id == "nl-police")
            ).all()
        engine.dispose()
    assert [(row.state, row.lease_until) for row in rows] == [("delivered", None)]


def _claimed(settings: Settings) -> bool:
    engine = make_engine(settings.resolved_database_url)
    with Session(engine) as session:
        rows = session.exec(
            select(DeliveryRow).where(DeliveryRow.recipient_id == "nl-police")
        ).all()
    engine.dispose()
    return any(row.attempts == 1 and row.lease_until is not None for row in rows)
