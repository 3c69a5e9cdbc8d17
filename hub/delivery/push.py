"""Push delivery: the worker that claims due deliveries, pushes them, and records what happened.

One round, numbered as the code follows it:
1. Claim due deliveries of push recipients in one transaction: each gets a claim (`lease_until`)
   and an attempt; the claim is committed before anything is sent, so a crash only delays it.
2. Push each packet (concurrently), signed as Standard Webhooks describes, the packet's own
   Ed25519 signature inside. The answer carries the recipient's signed receipt.
3. Record every outcome in one transaction: a verified receipt makes the delivery delivered;
   timeouts, connection errors, 408, 429 and 5xx are retried with exponential backoff and
   jitter until the retry horizon; any other 4xx, or the horizon, makes it dead.
The same packet id travels on every attempt (`webhook-id`), so the recipient stores it once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

import httpx
from nacl.signing import VerifyKey
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import Engine, or_, update
from sqlmodel import Session, col, select
from standardwebhooks import Webhook

from hub.audit.records import record_dead, record_pushed, record_receipt_rejected, record_retry
from hub.delivery.metrics import Metrics
from hub.delivery.push_client import PushClient, PushUnreachable, open_push_client
from hub.delivery.state import DeliveryState, check_receipt, mark_delivered
from hub.errors import ConfigurationError, PacketInvalid
from hub.logs import get_logger
from hub.network.directory import DeliveryMode, receipt_keys
from hub.network.keyring import load_webhook_key
from hub.network.webhook_secrets import decrypt_secret
from hub.settings import Settings
from hub.store import DeliveryRow, RecipientRow
from schemas.envelope import Envelope

log = get_logger(__name__)

RETRYABLE_STATUS = frozenset({408, 429})
# A receipt is under 1 KiB; an answer is never read past this, so no endpoint can fill memory.
MAX_ANSWER_BYTES = 64 * 1024


class PushAnswer(BaseModel):
    """What a recipient's push endpoint answers: its signed receipt for the packet."""

    model_config = ConfigDict(extra="forbid")

    receipt: Envelope


@dataclass(frozen=True)
class Claim:
    """A delivery claimed for one push attempt."""

    packet_id: str
    recipient_id: str
    push_url: str
    webhook_secret: str
    packet: str
    attempts: int
    window_start: datetime


class Verdict(StrEnum):
    delivered = "delivered"
    retry = "retry"
    reject = "reject"


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    detail: str = ""
    receipt: Envelope | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with equal jitter, capped, within a horizon."""

    base: timedelta
    cap: timedelta
    horizon: timedelta

    def delay(self, attempts: int, rng: random.Random) -> timedelta:
        ceiling: timedelta = min(self.cap, self.base * (2 ** max(attempts - 1, 0)))
        return ceiling / 2 + ceiling / 2 * rng.random()

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            base=timedelta(seconds=settings.retry_base_seconds),
            cap=timedelta(seconds=settings.retry_max_seconds),
            horizon=timedelta(seconds=settings.retry_horizon_seconds),
        )


@dataclass
class RoundStats:
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    latencies: list[timedelta] = field(default_factory=list)

    def __iadd__(self, other: RoundStats) -> RoundStats:
        self.claimed += other.claimed
        self.delivered += other.delivered
        self.retried += other.retried
        self.dead += other.dead
        self.latencies += other.latencies
        return self


def claim_due(
    session: Session, *, now: datetime, limit: int, claim_for: timedelta, webhook_key: bytes
) -> list[Claim]:
    """Claim up to `limit` due push deliveries (step 1); never one that another claim holds.

    A recipient whose stored webhook secret does not open with `webhook_key` is not pushed to
    (logged); its claims lapse and are tried again once the key is right.
    """
    free = or_(col(DeliveryRow.lease_until).is_(None), col(DeliveryRow.lease_until) <= now)
    query = (
        select(DeliveryRow, RecipientRow)
        .join(RecipientRow, col(RecipientRow.id) == col(DeliveryRow.recipient_id))
        .where(DeliveryRow.state == DeliveryState.pending)
        .where(RecipientRow.delivery_mode == DeliveryMode.push)
        .where(DeliveryRow.next_attempt_at <= now)
        .where(free)
        .order_by(col(DeliveryRow.next_attempt_at))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Several hub processes: each skips what another is claiming right now.
        query = query.with_for_update(skip_locked=True, of=DeliveryRow)
    candidates = session.exec(query).all()
    # One UPDATE for the whole batch; its condition is checked again row by row, so a row a
    # pull leased meanwhile is not claimed, and RETURNING says which rows this claim took.
    taken = (
        set(
            session.execute(
                update(DeliveryRow)
                .where(col(DeliveryRow.packet_id).in_([d.packet_id for d, _ in candidates]))
                .where(col(DeliveryRow.state) == DeliveryState.pending)
                .where(free)
                .values(lease_until=now + claim_for, attempts=col(DeliveryRow.attempts) + 1)
                .returning(col(DeliveryRow.packet_id))
                .execution_options(synchronize_session=False)
            ).scalars()
        )
        if candidates
        else set()
    )
    claims = []
    for delivery, recipient in candidates:
        if delivery.packet_id not in taken or delivery.packet is None:
            continue
        if recipient.push_url is None or recipient.webhook_secret is None:
            continue  # the mode changed under us; the pull inbox or a later round takes it
        try:
            secret = decrypt_secret(webhook_key, recipient.id, recipient.webhook_secret)
        except ConfigurationError as exc:
            log.error("push_secret_unusable", recipient_id=recipient.id, detail=str(exc))
            continue
        claims.append(
            Claim(
                packet_id=delivery.packet_id,
                recipient_id=recipient.id,
                push_url=recipient.push_url,
                webhook_secret=secret,
                packet=delivery.packet,
                attempts=delivery.attempts + 1,
                window_start=delivery.window_start,
            )
        )
    session.commit()
    return claims


def push_packet(client: PushClient, claim: Claim, now: datetime) -> Outcome:
    """Send one packet (step 2) and classify the answer; never raises for network trouble.

    The answer is read as it arrives and never past MAX_ANSWER_BYTES; a compressed one is
    refused unread, so an endpoint cannot make the hub inflate or buffer a large body.
    """
    signature = Webhook(claim.webhook_secret).sign(claim.packet_id, now, claim.packet)
    headers = {
        "content-type": "application/json",
        "accept-encoding": "identity",
        "webhook-id": claim.packet_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    try:
        reply = client.post(claim.push_url, claim.packet.encode(), headers, cap=MAX_ANSWER_BYTES)
    except PushUnreachable as exc:
        return Outcome(Verdict.retry, exc.detail)
    if not 200 <= reply.status < 300:
        return _failed(reply.status)
    if reply.compressed:
        return Outcome(Verdict.retry, "compressed answer refused")
    if reply.body is None:
        return Outcome(Verdict.retry, f"answer over {MAX_ANSWER_BYTES} bytes")
    try:
        receipt = PushAnswer.model_validate_json(reply.body).receipt
    except ValidationError:
        return Outcome(Verdict.retry, "answer without a valid receipt")
    return Outcome(Verdict.delivered, receipt=receipt)


def _failed(status: int) -> Outcome:
    """A non-2xx answer, whose body is never read: 408, 429 and 5xx are retried."""
    if status >= 500 or status in RETRYABLE_STATUS:
        return Outcome(Verdict.retry, f"HTTP {status}")
    return Outcome(Verdict.reject, f"HTTP {status}")


def record_outcomes(
    session: Session,
    results: list[tuple[Claim, Outcome]],
    *,
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
) -> RoundStats:
    """Record each push's outcome (step 3), all in one transaction."""
    stats = RoundStats(claimed=len(results))
    trust: dict[str, dict[str, VerifyKey]] = {}  # receipt keys, read once per recipient per round
    # One query loads the round's rows, held here: the session's identity map keeps rows only
    # weakly, so a dropped list would send every later lookup back to the database.
    rows = {
        row.packet_id: row
        for row in session.exec(
            select(DeliveryRow).where(
                col(DeliveryRow.packet_id).in_([c.packet_id for c, _ in results])
            )
        )
    }
    for claim, outcome in results:
        row = rows[claim.packet_id]
        receipt = outcome.receipt
        if receipt is not None:
            try:
                trusted = trust.get(claim.recipient_id) or receipt_keys(
                    session, claim.recipient_id, now
                )
                trust[claim.recipient_id] = trusted
                check_receipt(session, claim.recipient_id, receipt, trusted)
            except PacketInvalid as exc:
                log.warning("push_receipt_rejected", packet_id=claim.packet_id, reason=str(exc))
                record_receipt_rejected(session, claim.recipient_id, claim.packet_id, str(exc), now)
                outcome = Outcome(Verdict.retry, "receipt rejected")
            else:
                latency = mark_delivered(session, row, receipt, now, via="push")
                if latency is not None:
                    record_pushed(session, row, claim.attempts, now)
                    stats.delivered += 1
                    stats.latencies.append(latency)
                continue
        if row.state != DeliveryState.pending:
            continue  # a pull or a re-drive settled it meanwhile
        row.lease_until = None
        row.last_error = outcome.detail[:300]
        next_attempt = now + policy.delay(claim.attempts, rng)
        if outcome.verdict is Verdict.reject or next_attempt - row.window_start > policy.horizon:
            row.state = DeliveryState.dead
            row.dead_at = now
            stats.dead += 1
            record_dead(session, row, claim.attempts, now)
            log.error(
                "delivery_dead",
                packet_id=row.packet_id,
                recipient_id=row.recipient_id,
                attempts=claim.attempts,
                last_error=row.last_error,
            )
        else:
            row.next_attempt_at = next_attempt
            stats.retried += 1
            record_retry(session, row, claim.attempts, now)
            log.info(
                "push_retry_scheduled",
                packet_id=row.packet_id,
                recipient_id=row.recipient_id,
                attempts=claim.attempts,
                error=row.last_error,
                next_attempt_at=next_attempt.isoformat(),
            )
        session.add(row)
    session.commit()
    return stats


class PushWorker:
    """Runs push rounds with one pooled HTTP client and a small pool of senders.

    An httpx `transport` (tests: a receiver in process) selects the httpx client.
    """

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
        rng: random.Random | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.engine = engine
        self.metrics = metrics
        self.settings = settings
        self.policy = RetryPolicy.from_settings(settings)
        self.rng = rng or random.Random()  # noqa: S311  (jitter, not secrecy)
        self.client = open_push_client(
            settings.push_client,
            timeout=settings.push_timeout_seconds,
            connections=settings.push_concurrency,
            transport=transport,
        )
        self.pool = ThreadPoolExecutor(settings.push_concurrency, thread_name_prefix="push")
        self.webhook_key = load_webhook_key(settings)

    def run_once(self, now: datetime) -> RoundStats:
        """One claim-push-record round at `now`."""
        with Session(self.engine, expire_on_commit=False) as session:
            claims = claim_due(
                session,
                webhook_key=self.webhook_key,
                now=now,
                limit=self.settings.push_batch,
                claim_for=timedelta(seconds=self.settings.claim_seconds),
            )
        if not claims:
            return RoundStats()
        outcomes = list(self.pool.map(lambda c: push_packet(self.client, c, now), claims))
        with Session(self.engine, expire_on_commit=False) as session:
            return record_outcomes(
                session,
                list(zip(claims, outcomes, strict=True)),
                now=now,
                policy=self.policy,
                rng=self.rng,
            )

    def drain(self, clock: Callable[[], datetime], budget_seconds: float) -> RoundStats:
        """Run rounds while full batches keep coming, for at most `budget_seconds`."""
        total = RoundStats()
        deadline = time.monotonic() + budget_seconds
        while True:
            stats = self.run_once(clock())
            total += stats
            if self.metrics is not None:
                self.metrics.observe_deliveries(stats.latencies)
            if stats.claimed < self.settings.push_batch or time.monotonic() > deadline:
                return total

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.client.close()
