"""Feedback to the reporter: a source sees where its own report arrived and the recipients' coded
outcomes; nobody else's, and never content or recipients' ids; S11 counts what sources saw."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Network
from tests.factories import report_body
from tests.hub.delivery.test_delivery import pull, receipt_for, send_receipts

MARKER = "FEEDBACK-MARKER-91d2"


def submit(client: TestClient, network: Network, *, contact: bool = False) -> str:
    body = report_body("portal-nl", nationalities=("NL",), free_text=MARKER)
    if contact:
        body["reporter"] = {
            "kind": "contact",
            "email": "reporter@example.org",
            "consent_to_contact": True,
            "preferred_language": "nl",
        }
    answer = client.post("/v1/reports", json=body, headers=network.auth("portal-nl"))
    assert answer.status_code == 202, answer.text
    return str(body["report_id"])


def receive(client: TestClient, network: Network, recipient: str) -> None:
    receipts = [receipt_for(network, recipient, p) for p in pull(client, network, recipient)]
    assert send_receipts(client, network, recipient, receipts).status_code == 200


def status(client: TestClient, network: Network, report_id: str, source: str = "portal-nl") -> Any:
    return client.get(f"/v1/reports/{report_id}/status", headers=network.auth(source))


def test_a_source_sees_which_kinds_of_recipient_hold_a_receipt_and_when(
    client: TestClient, network: Network
) -> None:
    report_id = submit(client, network)
    before = status(client, network, report_id).json()
    assert before["reached_police"] is False
    assert {(r["kind"], r["country"], r["state"]) for r in before["recipients"]} == {
        ("police", "NL", "in_transit"),
        ("section", "NL", "in_transit"),
    }
    receive(client, network, "nl-police")
    after = status(client, network, report_id)
    assert after.status_code == 200
    body = after.json()
    assert body["reached_police"] is True
    police = next(r for r in body["recipients"] if r["kind"] == "police")
    assert police["state"] == "received"
    assert police["received_at"] is not None
    for secret in (MARKER, "nl-police", "nl-section", "hubrcp_", "Pattaya"):
        assert secret not in after.text


def test_another_source_cannot_see_a_report_s_status(client: TestClient, network: Network) -> None:
    report_id = submit(client, network)
    assert status(client, network, report_id, source="portal-at").status_code == 404
    assert status(client, network, report_id, source="platform-int").status_code == 404
    answer = client.get(
        f"/v1/reports/{report_id}/status", headers=network.auth("network-coordinator")
    )
    assert answer.status_code == 403


def test_a_recipient_attaches_an_outcome_the_source_then_sees(
    client: TestClient, network: Network
) -> None:
    report_id = submit(client, network)

    def outcome(recipient: str, code: str) -> Any:
        return client.post(
            f"/v1/reports/{report_id}/outcome",
            json={"outcome": code},
            headers=network.auth(recipient),
        )

    assert outcome("nl-police", "forwarded_to_investigators").status_code == 404  # no receipt
    receive(client, network, "nl-police")
    assert outcome("nl-section", "closed").status_code == 404  # not receipted by the section
    assert outcome("at-police", "closed").status_code == 404  # never its report
    assert outcome("nl-police", "more_information_needed").status_code == 200
    recorded = outcome("nl-police", "forwarded_to_investigators")
    assert recorded.status_code == 200
    assert recorded.json()["outcome"] == "forwarded_to_investigators"
    assert outcome("nl-police", "free text is not a code").status_code == 422
    police = next(
        r for r in status(client, network, report_id).json()["recipients"] if r["kind"] == "police"
    )
    assert police["outcome"] == "forwarded_to_investigators"
    assert police["outcome_at"] is not None


def test_s11_counts_the_reporters_who_asked_for_contact_and_got_a_status(
    client: TestClient, network: Network
) -> None:
    wanting = submit(client, network, contact=True)
    submit(client, network, contact=True)
    submit(client, network)  # anonymous: not counted

    def q9() -> dict[str, Any]:
        answer = client.get(
            "/v1/compliance?country=NL", headers=network.auth("network-coordinator")
        )
        figures: dict[str, Any] = next(
            v for v in answer.json()["countries"][0]["verdicts"] if v["criterion"] == "S11"
        )["evidence"]["figures"]
        return figures

    assert q9() == {"reports_with_consent_to_contact": 2, "with_status_update": 0, "share": 0.0}
    status(client, network, wanting)  # nothing received yet: no update to tell
    assert q9()["with_status_update"] == 0
    receive(client, network, "nl-police")
    status(client, network, wanting)
    assert q9() == {"reports_with_consent_to_contact": 2, "with_status_update": 1, "share": 0.5}
