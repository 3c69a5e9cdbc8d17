"""The hub's background jobs, run by APScheduler inside every hub process.

The push job runs in every process: their claims skip each other's rows. Jobs that must run once
per interval across the fleet (purge; audit: sign a tree head and verify the log) first take the
interval's run in the database.

Each job is a thin wrapper that supplies the clock to a function that takes time as an argument,
and logs a failure by its type only (a message could quote data being handled).
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from hub.audit.verify import audit_round, sign_round
from hub.delivery.push import PushWorker
from hub.delivery.retention import purge_due
from hub.logs import get_logger
from hub.network.keyring import load_hub_secrets
from hub.settings import Settings
from hub.store import JobRunRow

log = get_logger(__name__)

Clock = Callable[[], datetime]


def claim_run(engine: Engine, name: str, *, now: datetime, interval: timedelta) -> bool:
    """Take this interval's run of a fleet-wide job; False if another process already has it.

    The conditional UPDATE is the lock: of several hub processes firing together, one changes
    the row and the others find it already moved on. Works the same on SQLite and PostgreSQL.
    """
    # A tenth of slack, so one process's timer firing a little early does not skip a round.
    due_before = now - interval * 0.9
    with Session(engine) as session:
        if session.get(JobRunRow, name) is None:
            session.add(JobRunRow(name=name, last_started_at=now - interval))
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
        taken = session.execute(
            update(JobRunRow)
            .where(col(JobRunRow.name) == name)
            .where(col(JobRunRow.last_started_at) <= due_before)
            .values(last_started_at=now)
        )
        session.commit()
    return bool(taken.rowcount == 1)  # type: ignore[attr-defined]


def _guarded(name: str, job: Callable[[], Any]) -> Callable[[], None]:
    def run() -> None:
        try:
            job()
        except Exception as exc:
            frames = traceback.extract_tb(exc.__traceback__)
            where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
            log.error("job_failed", job=name, error=type(exc).__name__, where=where)

    return run


def _on_first_rounds(pending: set[str], done: threading.Event) -> Callable[[JobEvent], None]:
    lock = threading.Lock()

    def ended(event: JobEvent) -> None:
        with lock:
            pending.discard(event.job_id)
            if not pending:
                done.set()

    return ended


def wake_push(scheduler: BackgroundScheduler) -> None:
    """Run the push job now rather than at its next interval: a report was just accepted.

    If a round is running, the next one starts as soon as it ends (one instance at a time).
    """
    scheduler.modify_job("push", next_run_time=datetime.now(UTC))


def start_jobs(
    engine: Engine,
    settings: Settings,
    worker: PushWorker,
    clock: Clock,
    first_rounds: threading.Event | None = None,
) -> BackgroundScheduler:
    """Start the push, purge and audit jobs; the caller shuts the scheduler down.

    Each job's first round runs at once, on the scheduler's threads; `first_rounds` is set when
    every job has ended it, so that a caller (a test comparing stored rows before and after a
    request) can wait for the start's own writes, such as the first signed tree head.
    """

    def purge() -> None:
        interval = timedelta(seconds=settings.purge_interval_seconds)
        if not claim_run(engine, "purge", now=clock(), interval=interval):
            return
        with Session(engine) as session:
            purge_due(
                session,
                now=clock(),
                retention=timedelta(seconds=settings.retention_seconds),
                dead_retention=timedelta(seconds=settings.dead_retention_seconds),
            )

    def audit_log() -> None:
        # Signing reads only the entries added since the last head; the full verification reads
        # the whole log, so it runs at its own, longer interval.
        secrets, published = load_hub_secrets(settings)
        full = timedelta(seconds=settings.audit_verify_interval_seconds)
        if claim_run(engine, "audit-verify", now=clock(), interval=full):
            audit_round(
                engine,
                key=secrets.signing_key,
                published=published,
                now=clock(),
                high_water=settings.signed_head_file,
            )
            return
        interval = timedelta(seconds=settings.audit_interval_seconds)
        if claim_run(engine, "audit", now=clock(), interval=interval):
            sign_round(
                engine, key=secrets.signing_key, now=clock(), high_water=settings.signed_head_file
            )

    jobs: list[tuple[str, Callable[[], Any], float]] = [
        (
            "push",
            lambda: worker.drain(clock, budget_seconds=settings.push_interval_seconds * 5),
            settings.push_interval_seconds,
        ),
        ("purge", purge, settings.purge_interval_seconds),
        ("audit", audit_log, settings.audit_interval_seconds),
    ]
    scheduler = BackgroundScheduler(timezone=UTC)
    if first_rounds is not None:
        scheduler.add_listener(
            _on_first_rounds({name for name, _, _ in jobs}, first_rounds),
            EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED,
        )
    for name, job, seconds in jobs:
        scheduler.add_job(
            _guarded(name, job),
            "interval",
            seconds=seconds,
            id=name,  # wake_push finds the push job by this id
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),
        )
    scheduler.start()
    return scheduler
