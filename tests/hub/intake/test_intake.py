"""Intake over HTTP: accepted reports are routed and acknowledged; bad input is refused."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from hub.crypto import verify_acknowledgement
from hub.store import DeliveryRow
from keys import PublicKeySet
from schemas.envelope import Envelope
from tests.conftest import Network, stored_counts
from tests.factories import report_body

REPORT_ID_REASON = "must be a random (version 4) UUID, lowercase, as 8-4-4-4-12 hex digits"


def submit(client: TestClient, network: Network, body: Any, source: str = "portal-nl") -> Any:
    return client.post("/v1/reports", json=body, headers=network.auth(source))


def test_an_accepted_report_gets_202_with_routing_and_a_signed_acknowledgement(
    client: TestClient, network: Network, hub_public: PublicKeySet
) -> None:
    body = report_body("portal-nl", country="TH", nationalities=("NL",))
    answer = submit(client, network, body)
    assert answer.status_code == 202, answer.text
    data = answer.json()
    assert data["report_id"] == body["report_id"]
    assert {r["recipient_id"] for r in data["recipients"]} == {"nl-police", "nl-section"}
    ack = verify_acknowledgement(
        Envelope.model_validate(data["acknowledgement"]),
        {hub_public.signing_key_id: hub_public.signing},
    )
    assert str(ack.report_id) == body["report_id"]
    assert ack.source == "portal-nl"
    assert [r.model_dump() for r in ack.recipients] == data["recipients"]


def test_the_answer_holds_no_report_content(client: TestClient, network: Network) -> None:
    body = report_body(free_text="MARKER-answer-7f3a")
    answer = submit(client, network, body)
    assert answer.status_code == 202
    assert "MARKER-answer-7f3a" not in answer.text
    assert "Pattaya" not in answer.text


def test_a_repeated_report_returns_the_same_answer_and_stores_nothing_new(
    client: TestClient, network: Network, engine: Engine
) -> None:
    body = report_body()
    first = submit(client, network, body)
    counts = stored_counts(engine)
    second = submit(client, network, body)
    assert second.status_code == 202
    assert second.json() == first.json()
    assert stored_counts(engine) == counts


def test_the_same_report_sent_at_once_from_many_threads_is_stored_once(
    client: TestClient, network: Network, engine: Engine
) -> None:
    body = report_body()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: submit(client, network, body), range(8)))
    assert {a.status_code for a in answers} == {202}
    assert len({a.text for a in answers}) == 1  # the one stored answer, whoever stored it
    first = answers[0].json()
    with Session(engine) as session:
        stored = session.exec(
            select(DeliveryRow).where(DeliveryRow.report_id == first["report_id"])
        )
        assert len(stored.all()) == len(first["recipients"])


def test_a_different_report_under_a_used_id_gets_409(
    client: TestClient, network: Network, engine: Engine
) -> None:
    body = report_body()
    assert submit(client, network, body).status_code == 202
    counts = stored_counts(engine)
    body["incident"]["description"] = "Something else entirely."
    answer = submit(client, network, body)
    assert answer.status_code == 409
    assert answer.json()["title"] == "Conflict"
    assert stored_counts(engine) == counts


def _missing_country(body: dict[str, Any]) -> None:
    del body["incident"]["country"]


def _unknown_field(body: dict[str, Any]) -> None:
    body["incident"]["weather"] = "sunny"


def _bad_country(body: dict[str, Any]) -> None:
    body["incident"]["country"] = "XX"


def _future_date(body: dict[str, Any]) -> None:
    body["incident"]["date_from"] = "2999-01-01"


def _other_source(body: dict[str, Any]) -> None:
    body["source"] = "portal-de"


@pytest.mark.parametrize(
    ("bend", "field"),
    [
        (_missing_country, "incident.country"),
        (_unknown_field, "incident"),  # an unknown field is input: its name is not echoed
        (_bad_country, "incident.country"),
        (_future_date, "incident.date_from"),
        (_other_source, "source"),
    ],
    ids=["missing-field", "unknown-field", "bad-country", "future-date", "other-source"],
)
def test_bad_input_gets_422_naming_the_field_and_stores_nothing(
    client: TestClient, network: Network, engine: Engine, bend: Any, field: str
) -> None:
    body = report_body()
    bend(body)
    answer = submit(client, network, body)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert field in [e["field"] for e in problem["errors"]], problem
    assert all(e["reason"] for e in problem["errors"])
    assert stored_counts(engine) == (0, 0)


def test_validation_errors_do_not_echo_the_submitted_values(
    client: TestClient, network: Network
) -> None:
    body = report_body()
    body["incident"]["country"] = "QQ"
    body["incident"]["place"] = "SECRET-PLACE" * 100
    answer = submit(client, network, body)
    assert answer.status_code == 422
    assert "SECRET-PLACE" not in answer.text
    assert '"QQ"' not in answer.text


def test_a_bad_reporter_kind_or_report_id_is_named_without_echoing_the_value(
    client: TestClient, network: Network
) -> None:
    body = report_body()
    body["reporter"] = {"kind": "SECRET-KIND"}
    body["report_id"] = "SECRET-ID"
    answer = submit(client, network, body)
    assert answer.status_code == 422
    assert sorted(answer.json()["errors"], key=lambda e: e["field"]) == [
        {"field": "report_id", "reason": REPORT_ID_REASON},
        {"field": "reporter.kind", "reason": "must be one of 'anonymous', 'contact'"},
    ]
    assert "SECRET" not in answer.text


def test_a_body_that_is_not_json_gets_422(client: TestClient, network: Network) -> None:
    answer = client.post(
        "/v1/reports",
        content=b"{not json",
        headers={**network.auth("portal-nl"), "content-type": "application/json"},
    )
    assert answer.status_code == 422


def test_an_oversized_body_gets_413_and_stores_nothing(
    client: TestClient, network: Network, engine: Engine
) -> None:
    body = report_body(free_text="x" * 300_000)
    answer = submit(client, network, body)
    assert answer.status_code == 413
    assert answer.json()["errors"] == [{"field": "body", "reason": "larger than 262144 bytes"}]
    assert stored_counts(engine) == (0, 0)


def test_an_oversized_chunked_body_without_length_gets_413(
    client: TestClient, network: Network
) -> None:
    def chunks() -> Any:
        for _ in range(40):
            yield b"x" * 10_000

    answer = client.post(
        "/v1/reports",
        content=chunks(),
        headers={**network.auth("portal-nl"), "content-type": "application/json"},
    )
    assert answer.status_code == 413


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer hubsrc_wrong", "Basic dXNlcjpwYXNz", "Bearer "],
    ids=["none", "unknown-token", "wrong-scheme", "empty"],
)
def test_a_wrong_credential_gets_401_and_stores_nothing(
    client: TestClient, network: Network, engine: Engine, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    answer = client.post("/v1/reports", json=report_body(), headers=headers)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert stored_counts(engine) == (0, 0)


def test_a_recipient_may_not_submit_reports(
    client: TestClient, network: Network, engine: Engine
) -> None:
    answer = client.post("/v1/reports", json=report_body(), headers=network.auth("nl-police"))
    assert answer.status_code == 403
    assert stored_counts(engine) == (0, 0)


def test_an_unknown_path_gets_a_problem_404(client: TestClient) -> None:
    answer = client.get("/v1/nowhere")
    assert answer.status_code == 404
    assert answer.json()["status"] == 404
