"""Push delivery over real HTTP on loopback: the hub pushes, the connector's receiver stores once
and receipts; failures are retried with backoff, 4xx and the horizon make dead letters."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import io
import json
import random
import secrets
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from sqlalchemy import event
from sqlmodel import Session
from standardwebhooks import Webhook
from structlog.testing import capture_logs

from connectors.config import load_config
from connectors.recipient.pull import pull_until_empty
from connectors.recipient.receiver import create_receiver
from hub.delivery.push import (
    MAX_ANSWER_BYTES,
    Claim,
    Outcome,
    RetryPolicy,
    Verdict,
    claim_due,
    push_packet,
    record_outcomes,
)
from hub.delivery.push_client import HttpxPushClient, PushEngine, open_push_client
from hub.http.app import create_app
from hub.http.server import serving
from hub.network.directory import DeliveryMode, set_delivery_mode
from hub.network.keyring import load_webhook_key
from hub.settings import Settings
from hub.store import make_engine
from tests.conftest import Clock, Network, opened_reports, provision
from tests.factories import report_body

FAST = {
    "push_interval_seconds": 0.05,
    "retry_base_seconds": 0.05,
    "retry_max_seconds": 0.2,
    "claim_seconds": 2,
}


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


@dataclass
class PushHub:
    url: str
    settings: Settings
    network: Network
    secret: str

    def status(self, report_id: str) -> dict[str, Any]:
        answer = httpx.get(
            f"{self.url}/v1/reports/{report_id}/deliveries",
            headers=self.network.auth("network-coordinator"),
        )
        answer.raise_for_status()
        return {d["recipient_id"]: d for d in answer.json()["deliveries"]}

    def submit(self, **kwargs: Any) -> str:
        body = report_body(**kwargs)
        answer = httpx.post(
            f"{self.url}/v1/reports", json=body, headers=self.network.auth(body["source"])
        )
        assert answer.status_code == 202, answer.text
        return str(body["report_id"])

    def switch(
        self,
        recipient: str,
        mode: DeliveryMode,
        push_url: str | None = None,
        secret: str | None = None,
    ) -> None:
        engine = make_engine(self.settings.resolved_database_url)
        with Session(engine) as session:
            set_delivery_mode(
                session,
                recipient,
                mode,
                push_url=push_url,
                webhook_secret=secret,
                webhook_key=load_webhook_key(self.settings),
            )
            session.commit()
        engine.dispose()

    def receiver_config(self, recipient: str) -> Path:
        """The recipient's connector config, with the webhook secret file it needs for push."""
        path = self.network.connector_config(recipient)
        secret_file = path.parent / "webhook-secret.txt"
        secret_file.write_text(self.secret + "\n")
        config = json.loads(path.read_text())
        config["webhook_secret_file"] = "webhook-secret.txt"
        path.write_text(json.dumps(config))
        return path


@pytest.fixture
def push_hub(settings: Settings, tmp_path: Path) -> Iterator[PushHub]:
    fast = settings.model_copy(update=FAST)
    with serving(create_app(fast)) as url:
        yield PushHub(url, fast, provision(fast, tmp_path / "parties", url), new_secret())


def stored_report_ids(hub: PushHub, recipient: str) -> set[str]:
    return set(opened_reports(hub.network.connector_config(recipient)))


def test_a_push_recipient_gets_its_packet_within_moments_and_it_is_receipted(
    push_hub: PushHub,
) -> None:
    receiver = create_receiver(load_config(push_hub.receiver_config("nl-police")))
    with serving(receiver) as receiver_url:
        push_hub.switch("nl-police", DeliveryMode.push, f"{receiver_url}/packets", push_hub.secret)
        report_id = push_hub.submit(nationalities=("NL",))
        wait_for(lambda: push_hub.status(report_id)["nl-police"]["state"] == "delivered")
    assert stored_report_ids(push_hub, "nl-police") == {report_id}
    assert push_hub.status(report_id)["nl-police"]["receipt"]
    assert push_hub.status(report_id)["nl-section"]["state"] == "pending"  # a pull recipient


def test_a_push_to_a_recipient_that_is_down_is_retried_until_it_is_back(
    push_hub: PushHub,
) -> None:
    receiver = create_receiver(load_config(push_hub.receiver_config("nl-police")))
    with serving(receiver) as receiver_url:
        pass  # the port is free again: the recipient is down
    push_hub.switch("nl-police", DeliveryMode.push, f"{receiver_url}/packets", push_hub.secret)
    report_id = push_hub.submit(nationalities=("NL",))
    wait_for(lambda: push_hub.status(report_id)["nl-police"]["attempts"] >= 3)
    failing = push_hub.status(report_id)["nl-police"]
    assert failing["state"] in {"pending", "leased"}
    assert failing["last_error"].startswith("connection error")
    port = int(receiver_url.rsplit(":", 1)[1])
    with serving(receiver, port=port):
        wait_for(lambda: push_hub.status(report_id)["nl-police"]["state"] == "delivered")
    assert stored_report_ids(push_hub, "nl-police") == {report_id}


def test_a_4xx_answer_makes_a_dead_letter_that_can_be_redriven(push_hub: PushHub) -> None:
    receiver = create_receiver(load_config(push_hub.receiver_config("nl-police")))
    with serving(receiver) as receiver_url:
        wrong = new_secret()
        push_hub.switch("nl-police", DeliveryMode.push, f"{receiver_url}/packets", wrong)
        report_id = push_hub.submit(nationalities=("NL",))
        wait_for(lambda: push_hub.status(report_id)["nl-police"]["state"] == "dead")
        dead = push_hub.status(report_id)["nl-police"]
        assert dead["last_error"] == "HTTP 401"
        assert dead["attempts"] == 1, "a 4xx is not retried blindly"
        coordinator = push_hub.network.auth("network-coordinator")
        listed = httpx.get(f"{push_hub.url}/v1/deliveries?state=dead", headers=coordinator)
        assert [d["packet_id"] for d in listed.json()] == [dead["packet_id"]]
        push_hub.switch("nl-police", DeliveryMode.push, f"{receiver_url}/packets", push_hub.secret)
        retried = httpx.post(
            f"{push_hub.url}/v1/deliveries/{dead['packet_id']}/retry", headers=coordinator
        )
        assert retried.json() == {"packet_ids": [dead["packet_id"]]}
        wait_for(lambda: push_hub.status(report_id)["nl-police"]["state"] == "delivered")


def test_a_push_past_the_retry_horizon_is_dead(settings: Settings, tmp_path: Path) -> None:
    # Retries come every 0.2 s at most; 3 s leaves room for several even when a loaded machine
    # holds the first push back by more than a second (1 s made it die at its first attempt).
    short = settings.model_copy(update={**FAST, "retry_horizon_seconds": 3})
    with serving(create_app(short)) as url:
        hub = PushHub(url, short, provision(short, tmp_path / "parties", url), new_secret())
        hub.switch("nl-police", DeliveryMode.push, "http://127.0.0.1:9/packets", hub.secret)
        report_id = hub.submit(nationalities=("NL",))
        wait_for(lambda: hub.status(report_id)["nl-police"]["state"] == "dead")
        assert hub.status(report_id)["nl-police"]["attempts"] > 1


def test_pending_packets_follow_a_switch_from_push_to_pull(push_hub: PushHub) -> None:
    push_hub.switch("nl-police", DeliveryMode.push, "http://127.0.0.1:9/packets", push_hub.secret)
    report_id = push_hub.submit(nationalities=("NL",))
    wait_for(lambda: push_hub.status(report_id)["nl-police"]["attempts"] >= 1)
    push_hub.switch("nl-police", DeliveryMode.pull)
    config = load_config(push_hub.network.connector_config("nl-police"))
    wait_for(lambda: bool(pull_until_empty(config).stored), timeout=5)
    assert push_hub.status(report_id)["nl-police"]["state"] == "delivered"


def _signed_push(hub: PushHub, packet: str, packet_id: str, when: datetime) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": packet_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": Webhook(hub.secret).sign(packet_id, when, packet),
    }


def test_a_replayed_push_is_stored_once_and_refused_outside_the_tolerance(
    push_hub: PushHub,
) -> None:
    report_id = push_hub.submit(nationalities=("NL",))
    with httpx.Client(base_url=push_hub.url) as client:
        [packet] = client.get("/v1/inbox", headers=push_hub.network.auth("nl-police")).json()[
            "packets"
        ]
    body = json.dumps(packet)
    packet_id = json.loads(base64.b64decode(packet["payload"]))["packet_id"]
    receiver = create_receiver(load_config(push_hub.receiver_config("nl-police")))
    with serving(receiver) as receiver_url:
        now = datetime.now(UTC)
        first = httpx.post(
            f"{receiver_url}/packets",
            content=body,
            headers=_signed_push(push_hub, body, packet_id, now),
        )
        again = httpx.post(
            f"{receiver_url}/packets",
            content=body,
            headers=_signed_push(push_hub, body, packet_id, now),
        )
        stale = now - timedelta(minutes=10)
        with capture_logs() as logs:
            replay = httpx.post(
                f"{receiver_url}/packets",
                content=body,
                headers=_signed_push(push_hub, body, packet_id, stale),
            )
        forged = {**_signed_push(push_hub, body, packet_id, now), "webhook-signature": "v1,AAAA"}
        unsigned = httpx.post(f"{receiver_url}/packets", content=body, headers=forged)
    assert first.status_code == 200
    assert again.json() == first.json(), "a repeat gets the same receipt"
    assert replay.status_code == 401
    assert any(e["event"] == "push_refused" for e in logs), "a refused replay is logged"
    assert unsigned.status_code == 401
    assert stored_report_ids(push_hub, "nl-police") == {report_id}
    packets_dir = load_config(push_hub.network.connector_config("nl-police")).store_dir / "packets"
    assert len(list(packets_dir.glob("*.json"))) == 1


CLAIM = Claim(
    packet_id="6f1c1d3e-8f9a-4b6e-9c7d-2a4b5c6d7e8f",
    recipient_id="nl-police",
    push_url="http://receiver.test/packets",
    webhook_secret="whsec_" + "A" * 32,
    packet="{}",
    attempts=1,
    window_start=datetime(2026, 11, 1, tzinfo=UTC),
)


def _in_process(handler: Callable[[httpx.Request], httpx.Response]) -> HttpxPushClient:
    """The httpx push client with `handler` as the receiver, in process."""
    return HttpxPushClient(timeout=10, connections=1, transport=httpx.MockTransport(handler))


ENGINES: list[PushEngine] = ["urllib3", "httpx"]


@pytest.mark.parametrize(
    ("status", "verdict"),
    [(500, Verdict.retry), (503, Verdict.retry), (408, Verdict.retry), (429, Verdict.retry),
     (400, Verdict.reject), (401, Verdict.reject), (404, Verdict.reject), (200, Verdict.retry)],
)  # fmt: skip
def test_push_answers_are_classified(status: int, verdict: Verdict) -> None:
    """A 200 without a valid receipt is retried; 408, 429 and 5xx too; other 4xx are not."""
    client = _in_process(lambda _r: httpx.Response(status, json={}))
    assert push_packet(client, CLAIM, datetime.now(UTC)).verdict is verdict


def test_a_timeout_is_retried() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    client = _in_process(slow)
    outcome = push_packet(client, CLAIM, datetime.now(UTC))
    assert (outcome.verdict, outcome.detail) == (Verdict.retry, "timeout")


def test_the_push_is_signed_as_standard_webhooks_describes() -> None:
    seen: list[httpx.Request] = []

    def capture(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500)

    push_packet(_in_process(capture), CLAIM, datetime.now(UTC))
    [request] = seen
    Webhook(CLAIM.webhook_secret).verify(request.content, dict(request.headers), json_parse=False)
    assert request.headers["webhook-id"] == CLAIM.packet_id


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(
        base=timedelta(seconds=2), cap=timedelta(seconds=60), horizon=timedelta(days=1)
    )
    rng = random.Random(7)
    for attempts, ceiling in [(1, 2), (2, 4), (3, 8), (5, 32), (6, 60), (20, 60)]:
        for _ in range(50):
            delay = policy.delay(attempts, rng).total_seconds()
            assert ceiling / 2 <= delay <= ceiling


def _hostile_receiver(chunk: bytes, times: int, headers: dict[str, str]) -> FastAPI:
    """A push endpoint that answers every push with `chunk` sent `times` over and `headers`,
    streamed, so the receiver itself holds one chunk at a time."""
    app = FastAPI()

    @app.post("/packets")
    def answer() -> StreamingResponse:
        return StreamingResponse(
            iter([chunk] * times), headers=headers, media_type="application/json"
        )

    return app


BOMB_INFLATED = 64 * 1024 * 1024


def _gzip_bomb() -> bytes:
    """About 64 KiB of gzip that inflates to 64 MiB of zeros."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as stream:
        chunk = b"0" * (1024 * 1024)
        for _ in range(BOMB_INFLATED // len(chunk)):
            stream.write(chunk)
    return out.getvalue()


def _peak_bytes_of_push(url: str, engine: PushEngine) -> tuple[Verdict, str, int]:
    claim = dataclasses.replace(CLAIM, push_url=url)
    tracemalloc.start()
    try:
        client = open_push_client(engine, timeout=10, connections=1)
        try:
            outcome = push_packet(client, claim, datetime(2026, 11, 1, tzinfo=UTC))
        finally:
            client.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return outcome.verdict, outcome.detail, peak


@pytest.mark.parametrize("engine", ENGINES)
def test_a_gzip_bomb_from_a_push_endpoint_is_refused_without_inflating_it(
    engine: PushEngine,
) -> None:
    bomb = _gzip_bomb()
    with serving(_hostile_receiver(bomb, 1, {"content-encoding": "gzip"})) as url:
        verdict, detail, peak = _peak_bytes_of_push(f"{url}/packets", engine)
    assert (verdict, detail) == (Verdict.retry, "compressed answer refused")
    assert peak < 4 * 1024 * 1024, f"pushing held {peak} bytes at its peak"


@pytest.mark.parametrize("engine", ENGINES)
def test_an_oversized_push_answer_is_read_only_up_to_the_cap(engine: PushEngine) -> None:
    with serving(_hostile_receiver(b" " * 65536, 512, {})) as url:  # 32 MiB
        verdict, detail, peak = _peak_bytes_of_push(f"{url}/packets", engine)
    assert (verdict, detail) == (Verdict.retry, f"answer over {MAX_ANSWER_BYTES} bytes")
    assert peak < 4 * 1024 * 1024, f"pushing held {peak} bytes at its peak"


def test_the_push_asks_for_an_uncompressed_answer() -> None:
    seen: list[httpx.Request] = []

    def capture(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500)

    push_packet(_in_process(capture), CLAIM, datetime.now(UTC))
    assert seen[0].headers["accept-encoding"] == "identity"


def test_recording_a_rounds_outcomes_reads_its_deliveries_in_one_query(
    settings: Settings, tmp_path: Path, clock: Clock
) -> None:
    with serving(create_app(settings, clock=clock)) as url:
        hub = PushHub(url, settings, provision(settings, tmp_path / "parties", url), new_secret())
        clock.advance(minutes=1)  # past the keys' registration, which runs on the process clock
        submitted = {hub.submit(nationalities=("NL",)) for _ in range(5)}
    hub.switch("nl-police", DeliveryMode.push, "http://127.0.0.1:9/packets", hub.secret)
    engine = make_engine(settings.resolved_database_url)
    with Session(engine, expire_on_commit=False) as session:
        claims = claim_due(
            session,
            now=clock(),
            limit=10,
            claim_for=timedelta(seconds=30),
            webhook_key=load_webhook_key(settings),
        )
    assert len(claims) == len(submitted)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with Session(engine, expire_on_commit=False) as session:
        stats = record_outcomes(
            session,
            [(claim, Outcome(Verdict.retry, "503 from the recipient")) for claim in claims],
            now=clock(),
            policy=RetryPolicy.from_settings(settings),
            rng=random.Random(7),
        )
        session.commit()
    engine.dispose()
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT") and "deliveries" in s]
    assert stats.claimed == len(claims)
    assert len(reads) == 1, reads
