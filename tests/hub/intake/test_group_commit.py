"""Group commit (hub/intake/batch.py): many requests share one transaction, each answer leaves
after its own commit, a duplicate in the batch of its original gets the original's answer, and a
failing row fails only its own request."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import Engine, insert
from sqlmodel import Session, select

from hub.intake import batch
from hub.intake.batch import NotStored
from hub.store import ReportRow, SourceRow
from tests.conftest import Clock, LiveHub
from tests.factories import report_body

_SOURCES: Any = SourceRow.__table__  # type: ignore[attr-defined]


def post(live_hub: LiveHub, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{live_hub.url}/v1/reports",
        json=body,
        headers=live_hub.network.auth(body["source"]),
        timeout=60,
    )


def test_concurrent_reports_over_loopback_are_each_stored_when_answered(
    live_hub: LiveHub, engine: Engine
) -> None:
    bodies = [report_body("portal-nl") for _ in range(24)]
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda b: post(live_hub, b), bodies))
    assert [a.status_code for a in answers] == [202] * 24
    with Session(engine) as session:
        stored = {row.report_id: row.answer for row in session.exec(select(ReportRow)).all()}
    for body, answer in zip(bodies, answers, strict=True):
        assert httpx.Response(200, content=stored[body["report_id"]]).json() == answer.json()


def test_a_duplicate_sent_with_its_original_gets_the_original_answer(
    live_hub: LiveHub, engine: Engine
) -> None:
    body = report_body("portal-nl")
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: post(live_hub, body), range(8)))
    assert {a.status_code for a in answers} == {202}
    assert len({a.content for a in answers}) == 1
    with Session(engine) as session:
        assert len(session.exec(select(ReportRow)).all()) == 1


def test_a_failing_row_fails_only_its_own_request(engine: Engine, clock: Clock) -> None:
    busy = threading.Event()
    release = threading.Event()

    def hold(session: Session) -> str:
        busy.set()
        release.wait(10)  # the others queue meanwhile and form one batch
        return "held"

    def add(source_id: str) -> Any:
        def job(session: Session) -> str:
            session.connection().execute(
                insert(_SOURCES),
                {"id": source_id, "name": source_id, "country": "NL", "created_at": clock()},
            )
            return source_id

        return job

    assert batch.submit(engine, add("batch-dup")) == "batch-dup"
    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(batch.submit, engine, hold)
        busy.wait(10)
        ids = ["batch-a", "batch-dup", "batch-b", "batch-c"]  # batch-dup exists already
        rest = [pool.submit(batch.submit, engine, add(i)) for i in ids]
        release.set()
        assert first.result() == "held"
        outcomes = []
        for future in rest:
            try:
                outcomes.append(future.result())
            except NotStored:
                outcomes.append("not stored")
    assert outcomes == ["batch-a", "not stored", "batch-b", "batch-c"]
    with Session(engine) as session:
        names = set(session.exec(select(SourceRow.id)).all())
    assert names == {"batch-a", "batch-b", "batch-c", "batch-dup"}


def test_a_lone_job_is_committed_alone(engine: Engine) -> None:
    assert batch.submit(engine, lambda session: 1) == 1
