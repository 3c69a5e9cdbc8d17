"""Pull delivery: leases, receipts, and the coordinators' status view."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from structlog.testing import capture_logs

from hub.crypto import open_packet, pae, sign_receipt
from hub.delivery.state import DeliveryState, deliveries_in_state
from hub.store import DeliveryRow
from schemas.envelope import Envelope, PacketBody
from tests.conftest import Clock, Network
from tests.factories import report_body


def accepted(client: TestClient, network: Network, **kwargs: Any) -> dict[str, Any]:
    body = report_body(**kwargs)
    answer = client.post("/v1/reports", json=body, headers=network.auth(body["source"]))
    assert answer.status_code == 202, answer.text
    result: dict[str, Any] = answer.json()
    return result


def pull(client: TestClient, network: Network, recipient: str) -> list[Envelope]:
    answer = client.get("/v1/inbox", headers=network.auth(recipient))
    assert answer.status_code == 200, answer.text
    return [Envelope.model_validate(p) for p in answer.json()["packets"]]


def receipt_for(network: Network, recipient: str, envelope: Envelope) -> dict[str, Any]:
    keys = network.keys(recipient)
    assert keys.sealing is not None
    opened = open_packet(envelope, hub_keys=network.hub_trust(), private=keys.sealing)
    receipt = sign_receipt(
        packet=opened.body,
        sealed_sha256=opened.sealed_sha256,
        received_at=datetime.now(UTC),
        key=keys.signing,
    )
    return receipt.model_dump(mode="json")


def send_receipts(
    client: TestClient, network: Network, recipient: str, receipts: list[dict[str, Any]]
) -> Any:
    return client.post("/v1/receipts", json={"receipts": receipts}, headers=network.auth(recipient))


def status(client: TestClient, network: Network, report_id: str) -> dict[str, Any]:
    answer = client.get(
        f"/v1/reports/{report_id}/deliveries", headers=network.auth("network-coordinator")
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def test_a_recipient_pulls_its_own_packets_and_nobody_elses(
    client: TestClient, network: Network
) -> None:
    nl = accepted(client, network, source="portal-nl", nationalities=("NL",))
    at = accepted(client, network, source="portal-at", nationalities=("AT",))
    nl_packets = pull(client, network, "nl-police")
    assert len(nl_packets) == 1
    body = PacketBody.model_validate_json(base64.b64decode(nl_packets[0].payload))
    assert str(body.report_id) == nl["report_id"]
    assert body.recipient_id == "nl-police"
    at_ids = {
        str(PacketBody.model_validate_json(base64.b64decode(p.payload)).report_id)
        for p in pull(client, network, "at-police")
    }
    assert at_ids == {at["report_id"]}


def test_a_leased_packet_is_not_offered_again_until_its_lease_ends(
    client: TestClient, network: Network, clock: Clock
) -> None:
    report = accepted(client, network)
    assert len(pull(client, network, "nl-police")) == 1
    assert pull(client, network, "nl-police") == []
    assert status(client, network, report["report_id"])["deliveries"][0]["state"] == "leased"
    clock.advance(seconds=301)
    again = pull(client, network, "nl-police")
    assert len(again) == 1
    delivery = next(
        d
        for d in status(client, network, report["report_id"])["deliveries"]
        if d["recipient_id"] == "nl-police"
    )
    assert delivery["pulls"] == 2


def test_a_receipt_marks_the_delivery_delivered_and_a_repeat_is_harmless(
    client: TestClient, network: Network, clock: Clock
) -> None:
    report = accepted(client, network)
    [packet] = pull(client, network, "nl-police")
    receipt = receipt_for(network, "nl-police", packet)
    first = send_receipts(client, network, "nl-police", [receipt])
    assert first.status_code == 200, first.text
    assert len(first.json()["recorded"]) == 1
    second = send_receipts(client, network, "nl-police", [receipt])
    assert second.json() == {"recorded": [], "already_recorded": first.json()["recorded"]}
    clock.advance(seconds=3600)
    assert pull(client, network, "nl-police") == []
    delivery = next(
        d
        for d in status(client, network, report["report_id"])["deliveries"]
        if d["recipient_id"] == "nl-police"
    )
    assert delivery["state"] == "delivered"
    assert delivery["receipt"] == receipt


def test_a_receipt_signed_by_another_recipient_is_rejected_and_logged(
    client: TestClient, network: Network
) -> None:
    accepted(client, network)
    [packet] = pull(client, network, "nl-police")
    genuine = receipt_for(network, "nl-police", packet)
    forged = Envelope.model_validate(genuine)
    body = base64.b64decode(forged.payload)
    intruder = network.keys("nl-section").signing
    signature = intruder.sign(pae(forged.payload_type, body)).signature
    forged_sig = forged.signatures[0].model_copy(
        update={"sig": base64.b64encode(signature).decode()}
    )
    forged = forged.model_copy(update={"signatures": [forged_sig]})
    with capture_logs() as logs:
        answer = send_receipts(
            client, network, "nl-police", [forged.model_dump(mode="json"), genuine]
        )
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["receipts.0"]
    assert any(entry["event"] == "receipts_rejected" for entry in logs)
    assert send_receipts(client, network, "nl-police", [genuine]).json()["recorded"]


def test_a_receipt_for_another_recipients_packet_is_rejected(
    client: TestClient, network: Network
) -> None:
    accepted(client, network)
    [packet] = pull(client, network, "nl-police")
    receipt = receipt_for(network, "nl-police", packet)
    with capture_logs() as logs:
        answer = send_receipts(client, network, "nl-section", [receipt])
    assert answer.status_code == 422
    assert any(e["event"] == "receipts_rejected" for e in logs)


def _resigned(network: Network, recipient: str, receipt: dict[str, Any], **change: Any) -> Any:
    """The receipt's body with `change` made (None drops a member), signed by the recipient."""
    envelope = Envelope.model_validate(receipt)
    body = json.loads(base64.b64decode(envelope.payload))
    for member, value in change.items():
        if value is None:
            del body[member]
        else:
            body[member] = value
    payload = json.dumps(body).encode()
    key = network.keys(recipient).signing
    signature = base64.b64encode(key.sign(pae(envelope.payload_type, payload)).signature)
    return {
        **receipt,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{**receipt["signatures"][0], "sig": signature.decode()}],
    }


def test_a_signed_receipt_whose_body_is_invalid_is_refused_naming_the_fault(
    client: TestClient, network: Network
) -> None:
    accepted(client, network)
    [packet] = pull(client, network, "nl-police")
    genuine = receipt_for(network, "nl-police", packet)
    extra = _resigned(network, "nl-police", genuine, stored_by="Qx7Marker")
    naive = _resigned(network, "nl-police", genuine, received_at="2026-11-01T10:00:00")
    missing = _resigned(network, "nl-police", genuine, sealed_sha256=None)
    bad_signature = {**genuine, "signatures": extra["signatures"]}
    answer = send_receipts(client, network, "nl-police", [extra, naive, missing, bad_signature])
    assert answer.status_code == 422
    schema = "signature verified, but the body does not match its schema: "
    assert answer.json()["errors"] == [
        {"field": "receipts.0", "reason": schema + "unknown field"},
        {
            "field": "receipts.1",
            "reason": schema + "received_at: must have a UTC offset (Z or +hh:mm)",
        },
        {"field": "receipts.2", "reason": schema + "sealed_sha256: required"},
        {"field": "receipts.3", "reason": "signed object failed verification"},
    ]
    assert "Qx7Marker" not in answer.text


def test_a_receipt_with_a_wrong_digest_is_rejected(client: TestClient, network: Network) -> None:
    accepted(client, network)
    [packet] = pull(client, network, "nl-police")
    keys = network.keys("nl-police")
    body = PacketBody.model_validate_json(base64.b64decode(packet.payload))
    receipt = sign_receipt(
        packet=body, sealed_sha256="0" * 64, received_at=datetime.now(UTC), key=keys.signing
    )
    with capture_logs() as logs:
        answer = send_receipts(client, network, "nl-police", [receipt.model_dump(mode="json")])
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["reason"] == "receipt digest does not match the sealed packet"
    assert any(e["event"] == "receipts_rejected" for e in logs)


def test_a_receipt_for_another_packet_is_rejected_and_logged(
    client: TestClient, network: Network
) -> None:
    accepted(client, network)
    accepted(client, network)
    first, second = pull(client, network, "nl-police")
    keys = network.keys("nl-police")
    assert keys.sealing is not None
    other = open_packet(second, hub_keys=network.hub_trust(), private=keys.sealing)
    named = PacketBody.model_validate_json(base64.b64decode(first.payload))
    # Names the first packet, but vouches for the bytes of the second.
    receipt = sign_receipt(
        packet=named,
        sealed_sha256=other.sealed_sha256,
        received_at=datetime.now(UTC),
        key=keys.signing,
    )
    with capture_logs() as logs:
        answer = send_receipts(client, network, "nl-police", [receipt.model_dump(mode="json")])
    assert answer.status_code == 422
    assert any(
        e["event"] == "receipts_rejected" and (e["failed"], e["first_failed"]) == (1, "receipts.0")
        for e in logs
    )
    states = {d["state"] for d in status(client, network, str(named.report_id))["deliveries"]}
    assert "delivered" not in states


def test_delivery_status_is_for_coordinators_only(client: TestClient, network: Network) -> None:
    report = accepted(client, network)
    path = f"/v1/reports/{report['report_id']}/deliveries"
    assert client.get(path).status_code == 401
    assert client.get(path, headers=network.auth("nl-section")).status_code == 403
    assert client.get(path, headers=network.auth("portal-nl")).status_code == 403
    answer = client.get(path, headers=network.auth("network-coordinator"))
    assert answer.status_code == 200
    assert {d["state"] for d in answer.json()["deliveries"]} == {"pending"}


def test_delivery_status_of_an_unknown_report_is_404(client: TestClient, network: Network) -> None:
    answer = client.get(
        "/v1/reports/6f1c1d3e-8f9a-4b6e-9c7d-2a4b5c6d7e8f/deliveries",
        headers=network.auth("network-coordinator"),
    )
    assert answer.status_code == 404


def test_a_source_has_no_inbox(client: TestClient, network: Network) -> None:
    assert client.get("/v1/inbox", headers=network.auth("portal-nl")).status_code == 403


def test_the_deliveries_in_one_state_are_listed_oldest_first_up_to_the_limit(
    client: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    accepted(client, network)
    clock.advance(seconds=1)
    accepted(client, network)
    with Session(engine) as session:
        rows = session.exec(select(DeliveryRow).order_by(col(DeliveryRow.created_at))).all()
        stored = [(row.created_at, row.packet_id) for row in rows]
        pending = deliveries_in_state(session, state=DeliveryState.pending, now=clock(), limit=100)
        assert [d.packet_id for d in pending] == [p for _, p in sorted(stored)]
        assert all(d.state is DeliveryState.pending for d in pending)
        assert len(pending) >= 2
        oldest = deliveries_in_state(session, state=DeliveryState.pending, now=clock(), limit=1)
        assert [d.packet_id for d in oldest] == [pending[0].packet_id]
        assert deliveries_in_state(session, state=DeliveryState.dead, now=clock(), limit=100) == []
