"""Per-source rate limits on intake: a clear 429 with Retry-After, one source at a time."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from structlog.testing import capture_logs

from hub.errors import ConfigurationError, RateLimited
from hub.http.app import create_app
from hub.intake.ratelimit import IntakeLimiter, parse_rate
from hub.settings import Settings
from tests.conftest import Clock, Network, stored_counts
from tests.factories import report_body


@pytest.fixture
def strict_hub(settings: Settings, network: Network, clock: Clock) -> Iterator[TestClient]:
    """The hub allowing each source three submissions a minute."""
    strict = settings.model_copy(update={"scheduler": False, "intake_rate_limit": "3/minute"})
    with TestClient(create_app(strict, clock=clock), raise_server_exceptions=False) as client:
        yield client


def submit(client: TestClient, network: Network, source: str) -> int:
    body = report_body(source)
    return client.post("/v1/reports", json=body, headers=network.auth(source)).status_code


def test_a_source_over_its_rate_gets_429_with_retry_after_and_nothing_is_stored(
    strict_hub: TestClient, network: Network, engine: Engine
) -> None:
    assert [submit(strict_hub, network, "portal-nl") for _ in range(3)] == [202, 202, 202]
    before = stored_counts(engine)
    with capture_logs() as logs:
        answer = strict_hub.post(
            "/v1/reports", json=report_body("portal-nl"), headers=network.auth("portal-nl")
        )
    assert answer.status_code == 429
    assert answer.headers["content-type"] == "application/problem+json"
    assert 1 <= int(answer.headers["retry-after"]) <= 60
    assert answer.json()["title"] == "Too many requests"
    assert stored_counts(engine) == before
    [event] = [e for e in logs if e["event"] == "rate_limited"]
    assert event["source"] == "portal-nl"
    assert event["retry_after"] == int(answer.headers["retry-after"])


def test_one_source_over_its_rate_does_not_slow_another(
    strict_hub: TestClient, network: Network
) -> None:
    for _ in range(3):
        submit(strict_hub, network, "portal-nl")
    assert submit(strict_hub, network, "portal-nl") == 429
    assert submit(strict_hub, network, "portal-at") == 202


def test_refused_submissions_count_too(strict_hub: TestClient, network: Network) -> None:
    for _ in range(3):
        answer = strict_hub.post(
            "/v1/reports", json={"not": "a report"}, headers=network.auth("portal-nl")
        )
        assert answer.status_code == 422
    assert submit(strict_hub, network, "portal-nl") == 429


def test_the_rate_only_applies_to_intake(strict_hub: TestClient, network: Network) -> None:
    assert [submit(strict_hub, network, "portal-nl") for _ in range(4)] == [202, 202, 202, 429]
    for _ in range(5):
        answer = strict_hub.get("/v1/reseal-requests", headers=network.auth("portal-nl"))
        assert answer.status_code == 200


def test_a_source_may_submit_again_once_its_window_has_passed() -> None:
    limiter = IntakeLimiter("2/second")
    limiter.hit("portal-nl")
    limiter.hit("portal-nl")
    with pytest.raises(RateLimited) as refused:
        limiter.hit("portal-nl")
    assert refused.value.retry_after == 1
    time.sleep(1.05)
    limiter.hit("portal-nl")


def test_a_rate_that_is_not_a_rate_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        parse_rate("plenty")
    with pytest.raises(ValueError, match="intake_rate_limit"):
        Settings(intake_rate_limit="plenty")


def test_a_recipient_over_its_receipt_or_pull_rate_gets_429_and_another_does_not(
    settings: Settings, network: Network, clock: Clock
) -> None:
    strict = settings.model_copy(
        update={
            "scheduler": False,
            "receipts_rate_limit": "2/minute",
            "inbox_rate_limit": "2/minute",
        }
    )
    with TestClient(create_app(strict, clock=clock), raise_server_exceptions=False) as client:
        police = network.auth("nl-police")
        pulls = [client.get("/v1/inbox", headers=police).status_code for _ in range(3)]
        batches = [
            client.post("/v1/receipts", json={"receipts": []}, headers=police).status_code
            for _ in range(3)
        ]
        other = client.get("/v1/inbox", headers=network.auth("nl-section")).status_code
    assert pulls == [200, 200, 429]
    assert batches[2] == 429
    assert batches[:2] != [429, 429]
    assert other == 200
