"""Real processes on loopback for fault tests: a hub that can be SIGKILLed and restarted, push
receivers run by `connector serve`, a proxy that can make a receiver slow, failing or absent,
sources that resubmit until acknowledged, and pull recipients that keep pulling."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from sqlalchemy import func
from sqlmodel import Session, select

from connectors.config import load_config
from connectors.errors import ConnectorError
from connectors.recipient.pull import pull_once
from hub.http.server import serving
from hub.network.directory import DeliveryMode, set_delivery_mode
from hub.network.keyring import load_webhook_key
from hub.settings import Settings
from hub.store import DeliveryRow, make_engine
from tests.conftest import ROOT, Network, opened_reports
from tests.factories import report_body

# The project's commands as processes of their own, on the suite's moved clock (tests/clocked.py).
CLOCKED = [sys.executable, "-m", "tests.clocked"]

FAST_HUB = {
    "HUB_PUSH_INTERVAL_SECONDS": "0.1",
    "HUB_RETRY_BASE_SECONDS": "0.1",
    "HUB_RETRY_MAX_SECONDS": "1",
    "HUB_CLAIM_SECONDS": "3",
    "HUB_LEASE_SECONDS": "3",
    "HUB_PUSH_TIMEOUT_SECONDS": "3",
    # The portals here send as fast as they can on purpose; the rate limit has its own tests.
    "HUB_INTAKE_RATE_LIMIT": "1000000/minute",
    "HUB_RECEIPTS_RATE_LIMIT": "1000000/minute",
    "HUB_INBOX_RATE_LIMIT": "1000000/minute",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _alive(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Process:
    """A command of the project's, run as a separate process whose output goes to a log file."""

    command: list[str]
    url: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.command, env={**os.environ, **self.env}, stdout=log, stderr=log, cwd=ROOT
        )
        log.close()
        wait_until(self._started, 60, f"{self.command[len(CLOCKED)]} to start")

    def _started(self) -> bool:
        """Whether it answers; an AssertionError with its log's end if it has already exited."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace").splitlines()[-15:]
            raise AssertionError(
                f"{self.command[len(CLOCKED)]} exited ({self.proc.returncode}) before it answered;"
                f" the end of {self.log_path}:\n" + "\n".join(tail)
            )
        return _alive(self.url)

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, whatever was in flight is cut."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def running(*processes: Process) -> Iterator[None]:
    """Start the processes in order; stop every one started, whatever happens."""
    started: list[Process] = []
    try:
        for process in processes:
            started.append(process)
            process.start()
        yield
    finally:
        for process in reversed(started):
            process.stop()


def hub_process(settings: Settings, port: int, log_path: Path) -> Process:
    return Process(
        command=[*CLOCKED, "hub", "serve", "--port", str(port)],
        url=f"http://127.0.0.1:{port}",
        log_path=log_path,
        env={
            **FAST_HUB,
            "HUB_DATA_DIR": str(settings.data_dir),
            "HUB_DATABASE_URL": settings.resolved_database_url,
            "HUB_ROUTING_POLICY": str(settings.routing_policy),
        },
    )


def receiver_process(config: Path, port: int, log_path: Path) -> Process:
    return Process(
        command=[
            *CLOCKED,
            "connectors",
            "serve",
            "--config",
            str(config),
            "--port",
            str(port),
        ],
        url=f"http://127.0.0.1:{port}",
        log_path=log_path,
    )


def make_push_recipient(
    settings: Settings, network: Network, recipient: str, push_url: str
) -> Path:
    """Switch a demo recipient to push, with a fresh webhook secret on both sides."""
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    config_path = network.connector_config(recipient)
    (config_path.parent / "webhook-secret.txt").write_text(secret + "\n")
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "webhook_secret_file": "webhook-secret.txt"}))
    engine = make_engine(settings.resolved_database_url)
    with Session(engine) as session:
        set_delivery_mode(
            session,
            recipient,
            DeliveryMode.push,
            push_url=push_url,
            webhook_secret=secret,
            webhook_key=load_webhook_key(settings),
        )
        session.commit()
    engine.dispose()
    return config_path


@dataclass
class Submitter:
    """Sends reports like a portal does: again and again until the hub acknowledges each.

    With several hub URLs, report i goes to hub i modulo their number.
    """

    hub_url: str | list[str]
    network: Network
    bodies: list[dict[str, Any]]
    acknowledged: dict[str, set[str]] = field(default_factory=dict)
    resubmissions: int = 0

    def run(self) -> None:
        urls = [self.hub_url] if isinstance(self.hub_url, str) else self.hub_url
        with httpx.Client(timeout=10) as client:
            for index, body in enumerate(self.bodies):
                url = urls[index % len(urls)]
                while True:
                    try:
                        answer = client.post(
                            f"{url}/v1/reports",
                            json=body,
                            headers=self.network.auth(body["source"]),
                        )
                    except httpx.HTTPError:
                        answer = None
                    if answer is not None and answer.status_code == 202:
                        self.acknowledged[body["report_id"]] = {
                            r["recipient_id"] for r in answer.json()["recipients"]
                        }
                        break
                    assert answer is None or answer.status_code >= 500, answer.text
                    self.resubmissions += 1
                    time.sleep(0.1)


@dataclass
class PullTally:
    """What the pulling recipients saw: a packet handed out twice shows as already stored."""

    stored: int = 0
    already_stored: int = 0


@contextmanager
def pulling(
    network: Network, recipients: list[str], hub_urls: list[str] | None = None
) -> Iterator[PullTally]:
    """Pull recipients' connectors pulling in a loop (round robin over `hub_urls` if given),
    riding out hub restarts."""
    stop = threading.Event()
    tally = PullTally()

    def loop() -> None:
        configs = [load_config(network.connector_config(r)) for r in recipients]
        turn = 0
        while not stop.is_set():
            for config in configs:
                if hub_urls:
                    config = config.model_copy(update={"hub_url": hub_urls[turn % len(hub_urls)]})
                    turn += 1
                # The hub may be down or restarting: try again next round.
                with contextlib.suppress(ConnectorError):
                    result = pull_once(config)
                    tally.stored += len(result.stored)
                    tally.already_stored += len(result.already_stored)
            stop.wait(0.1)

    thread = threading.Thread(target=loop, name="pullers", daemon=True)
    thread.start()
    try:
        yield tally
    finally:
        stop.set()
        thread.join(timeout=30)


def undelivered(settings: Settings) -> int:
    engine = make_engine(settings.resolved_database_url)
    with Session(engine) as session:
        count = session.exec(
            select(func.count()).select_from(DeliveryRow).where(DeliveryRow.state != "delivered")
        ).one()
    engine.dispose()
    return int(count)


def check_exactly_once(
    settings: Settings, network: Network, acknowledged: dict[str, set[str]]
) -> dict[str, int]:
    """Every acknowledged report stored once at each of its recipients, receipted; no extras."""
    expected: dict[str, set[str]] = {}
    for report_id, recipients in acknowledged.items():
        for recipient in recipients:
            expected.setdefault(recipient, set()).add(report_id)
    # Counted first, asserted after: the figures returned are what the stores held.
    stored_total = missed = unexpected = stored_twice = 0
    for recipient in network.recipient_ids:
        store = load_config(network.connector_config(recipient)).store_dir
        reports = set(opened_reports(network.connector_config(recipient)))
        packets = list((store / "packets").glob("*.json"))
        wanted = expected.get(recipient, set())
        missed += len(wanted - reports)
        unexpected += len(reports - wanted)
        stored_twice += len(packets) - len(reports)
        stored_total += len(reports)
    assert missed == 0, f"{missed} acknowledged (report, recipient) pairs never stored"
    assert unexpected == 0, f"{unexpected} reports stored where they were not routed"
    assert stored_twice == 0, f"{stored_twice} reports arrived in a second packet"
    engine = make_engine(settings.resolved_database_url)
    with Session(engine) as session:
        rows = session.exec(select(DeliveryRow)).all()
    engine.dispose()
    pairs = [(row.report_id, row.recipient_id) for row in rows]
    assert len(pairs) == len(set(pairs)), "two deliveries of one report to one recipient"
    assert all(row.state == "delivered" and row.receipt for row in rows)
    assert sorted(pairs) == sorted((r, p) for r, ps in acknowledged.items() for p in ps)
    return {
        "deliveries": len(rows),
        "stored": stored_total,
        "missed": missed,
        "stored_twice": stored_twice,
    }


def redeliveries(settings: Settings, push_logs: list[Path], tally: PullTally) -> dict[str, int]:
    """What the faults made the hub do again, counted: push attempts beyond the first, packets
    a push receiver already had (absorbed by the connector's idempotency), pulls of a packet
    beyond its first (handed out again after a lease expired), and those of them the pulling
    connector found already stored (absorbed)."""
    engine = make_engine(settings.resolved_database_url)
    with Session(engine) as session:
        counts = session.exec(select(DeliveryRow.attempts, DeliveryRow.pulls)).all()
    engine.dispose()
    return {
        "pushes_retried": sum(max(attempts - 1, 0) for attempts, _ in counts),
        "pushes_absorbed": sum(duplicate_pushes(log) for log in push_logs),
        "pulls_repeated": sum(max(pulls - 1, 0) for _, pulls in counts),
        "pulls_absorbed": tally.already_stored,
    }


class FaultProxy:
    """Stands between the hub and a push receiver; can be slow, answer 500, or pass through."""

    def __init__(self, target: str, slow_seconds: float) -> None:
        self.mode = "pass"
        self.target = target
        self.slow_seconds = slow_seconds
        self.forwarded = 0
        self.met: Counter[str] = Counter()  # pushes that arrived, by the mode they met
        self.app = FastAPI()

        @self.app.post("/packets")
        async def forward(request: Request) -> Response:
            mode = self.mode  # a push is served in the mode it arrived in
            self.met[mode] += 1
            body = await request.body()
            headers = {k: v for k, v in request.headers.items() if k.startswith("webhook-")}
            if mode == "slow":
                await asyncio.sleep(self.slow_seconds)
            async with httpx.AsyncClient(timeout=10) as client:
                answer = await client.post(
                    f"{self.target}/packets",
                    content=body,
                    headers={**headers, "content-type": "application/json"},
                )
            self.forwarded += 1
            if mode == "error":
                return Response(status_code=500)  # stored there, but the hub hears a failure
            return Response(
                answer.content, status_code=answer.status_code, media_type="application/json"
            )

        @self.app.get("/healthz")
        def healthz() -> dict[str, str]:
            return {"status": "ok"}

    @contextmanager
    def serving(self, port: int) -> Iterator[str]:
        with serving(self.app, port=port) as url:
            yield url


def sample_bodies(count: int, seed: int) -> list[dict[str, Any]]:
    """Reports from every portal about suspects of one or two member countries."""
    rng = random.Random(seed)
    members = ["AT", "BE", "DE", "NL"]
    portals = ["portal-at", "portal-be", "portal-de", "portal-nl", "platform-int"]
    return [
        report_body(
            rng.choice(portals),
            country="TH",
            nationalities=tuple(rng.sample(members, rng.choice([1, 2]))),
        )
        for _ in range(count)
    ]


def duplicate_pushes(log_path: Path) -> int:
    """How often a push receiver was handed a packet it had already stored."""
    return log_path.read_text(encoding="utf-8", errors="replace").count('"packet_already_stored"')
