"""Pull delivery: leases, receipts, and the coordinators' status view."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from structlog.testing import capture_logs

from hub.crypto import open_packet, pae, sign_receipt
from hub.delivery.rotation import revoke
from hub.delivery.state import DeliveryState, DeliveryStatus, deliveries_in_state, redrive
from hub.errors import NotFound
from hub.store import AuditEntryRow, DeliveryRow
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


def receipt_for(
    network: Network, recipient: str, envelope: Envelope, received_at: datetime | None = None
) -> dict[str, Any]:
    keys = network.keys(recipient)
    assert keys.sealing is not None
    opened = open_packet(envelope, hub_keys=network.hub_trust(), private=keys.sealing)
    receipt = sign_receipt(
        packet=opened.body,
        sealed_sha256=opened.sealed_sha256,
        received_at=received_at or datetime.now(UTC),
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
    return _signed(network, recipient, receipt, json.dumps(body).encode())


def _signed(network: Network, recipient: str, receipt: dict[str, Any], payload: bytes) -> Any:
    """The receipt with `payload`, whatever it holds, in place of its body, signed by the
    recipient."""
    keys = network.keys(recipient)
    signature = base64.b64encode(keys.signing.sign(pae(receipt["payloadType"], payload)).signature)
    return {
        **receipt,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": keys.public.signing_key_id, "sig": signature.decode()}],
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
    for _ in range(3):  # 12 packets at 3 instants: packet-id order alone is not oldest first
        accepted(client, network)
        clock.advance(seconds=1)
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


def delivery_of(
    client: TestClient, network: Network, report_id: str, recipient: str
) -> dict[str, Any]:
    return next(
        d
        for d in status(client, network, report_id)["deliveries"]
        if d["recipient_id"] == recipient
    )


def packet_id_of(envelope: Envelope) -> str:
    return str(PacketBody.model_validate_json(base64.b64decode(envelope.payload)).packet_id)


def misdigested(network: Network, recipient: str, envelope: Envelope, at: datetime) -> Any:
    """A receipt the recipient signs for the packet, vouching for bytes it never received."""
    body = PacketBody.model_validate_json(base64.b64decode(envelope.payload))
    receipt = sign_receipt(
        packet=body, sealed_sha256="0" * 64, received_at=at, key=network.keys(recipient).signing
    )
    return receipt.model_dump(mode="json")


DIGEST_REFUSED = "receipt refused: receipt digest does not match the sealed packet"


def test_a_pulled_delivery_shows_leased_until_the_instant_its_lease_ends_then_pending(
    client: TestClient, network: Network, clock: Clock
) -> None:
    report = accepted(client, network)
    answer = client.get("/v1/inbox", headers=network.auth("nl-police"))
    lease_until = clock.now + timedelta(seconds=300)
    assert datetime.fromisoformat(answer.json()["lease_until"]) == lease_until
    clock.now = lease_until - timedelta(microseconds=1)
    leased = delivery_of(client, network, report["report_id"], "nl-police")
    assert (leased["state"], datetime.fromisoformat(leased["lease_until"])) == (
        "leased",
        lease_until,
    )
    clock.now = lease_until
    ended = delivery_of(client, network, report["report_id"], "nl-police")
    assert (ended["state"], datetime.fromisoformat(ended["lease_until"])) == (
        "pending",
        lease_until,
    )


def test_a_coordinator_sees_every_field_of_a_delivery_from_intake_to_its_receipt(
    client: TestClient, network: Network, clock: Clock
) -> None:
    intake = clock.now
    report = accepted(client, network, nationalities=("NL",), residence="NL")
    [routed] = [r for r in report["recipients"] if r["recipient_id"] == "nl-police"]
    rules = ["suspect-nationality", "suspect-residence"]
    assert routed["rules"] == rules
    waiting = DeliveryStatus.model_validate(
        delivery_of(client, network, report["report_id"], "nl-police")
    )
    expected = DeliveryStatus(
        packet_id=waiting.packet_id,
        recipient_id="nl-police",
        rules=rules,
        state=DeliveryState.pending,
        created_at=intake,
        lease_until=None,
        pulls=0,
        attempts=0,
        last_error=None,
        delivered_at=None,
        dead_at=None,
        purged_at=None,
        receipt=None,
    )
    assert waiting == expected
    clock.advance(seconds=10)
    [packet] = pull(client, network, "nl-police")
    assert packet_id_of(packet) == waiting.packet_id
    clock.advance(seconds=20)
    receipt = receipt_for(network, "nl-police", packet, received_at=clock.now)
    assert send_receipts(client, network, "nl-police", [receipt]).status_code == 200
    delivered = DeliveryStatus.model_validate(
        delivery_of(client, network, report["report_id"], "nl-police")
    )
    assert delivered == expected.model_copy(
        update={
            "state": DeliveryState.delivered,
            "pulls": 1,
            "delivered_at": clock.now,
            "receipt": Envelope.model_validate(receipt),
        }
    )


def test_a_refused_receipt_shows_the_delivery_stuck_with_the_reason_until_one_is_verified(
    client: TestClient, network: Network, clock: Clock
) -> None:
    report = accepted(client, network)
    [packet] = pull(client, network, "nl-police")
    answer = send_receipts(
        client, network, "nl-police", [misdigested(network, "nl-police", packet, clock.now)]
    )
    assert answer.status_code == 422, answer.text
    stuck = delivery_of(client, network, report["report_id"], "nl-police")
    assert (stuck["state"], stuck["last_error"]) == ("stuck", DIGEST_REFUSED)
    clock.advance(seconds=301)
    assert delivery_of(client, network, report["report_id"], "nl-police")["state"] == "stuck"
    listed = client.get(
        "/v1/deliveries", params={"state": "pending"}, headers=network.auth("network-coordinator")
    ).json()
    assert [(d["state"], d["last_error"]) for d in listed if d["recipient_id"] == "nl-police"] == [
        ("stuck", DIGEST_REFUSED)
    ]
    receipt = receipt_for(network, "nl-police", packet, received_at=clock.now)
    assert send_receipts(client, network, "nl-police", [receipt]).status_code == 200
    delivered = delivery_of(client, network, report["report_id"], "nl-police")
    assert (delivered["state"], delivered["last_error"]) == ("delivered", None)


def test_the_reason_a_stuck_delivery_shows_is_cut_at_300_characters(
    client: TestClient, network: Network, clock: Clock
) -> None:
    report = accepted(client, network)
    [packet] = pull(client, network, "nl-police")
    genuine = receipt_for(network, "nl-police", packet, received_at=clock.now)
    extra = {f"extra_{n}": "x" for n in range(30)}
    answer = send_receipts(
        client, network, "nl-police", [_resigned(network, "nl-police", genuine, **extra)]
    )
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["errors"]
    assert len(error["reason"]) > 300
    stuck = delivery_of(client, network, report["report_id"], "nl-police")
    assert stuck["state"] == "stuck"
    assert stuck["last_error"] == ("receipt refused: " + error["reason"])[:300]
    assert len(stuck["last_error"]) == 300


def test_a_refused_receipt_naming_another_recipients_delivery_leaves_that_one_unmarked(
    client: TestClient, network: Network, clock: Clock
) -> None:
    report = accepted(client, network)
    [police_packet] = pull(client, network, "nl-police")
    assert len(pull(client, network, "nl-section")) == 1
    police_receipt = receipt_for(network, "nl-police", police_packet, received_at=clock.now)
    # Signed by the section, so it verifies, but it names the police's packet.
    claimed = _resigned(network, "nl-section", police_receipt)
    answer = send_receipts(client, network, "nl-section", [claimed])
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"] == [
        {"field": "receipts.0", "reason": "receipt names a packet that is not the caller's"}
    ]
    for recipient in ("nl-police", "nl-section"):
        delivery = delivery_of(client, network, report["report_id"], recipient)
        assert (delivery["state"], delivery["last_error"]) == ("leased", None)


def test_a_refused_receipt_for_a_delivered_packet_leaves_it_delivered_and_unmarked(
    client: TestClient, network: Network, clock: Clock
) -> None:
    report = accepted(client, network)
    [packet] = pull(client, network, "nl-police")
    receipt = receipt_for(network, "nl-police", packet, received_at=clock.now)
    assert send_receipts(client, network, "nl-police", [receipt]).status_code == 200
    answer = send_receipts(
        client, network, "nl-police", [misdigested(network, "nl-police", packet, clock.now)]
    )
    assert answer.status_code == 422, answer.text
    delivered = delivery_of(client, network, report["report_id"], "nl-police")
    assert (delivered["state"], delivered["last_error"]) == ("delivered", None)


def test_in_a_batch_only_the_delivery_of_the_refused_receipt_is_marked_stuck(
    client: TestClient, network: Network, clock: Clock
) -> None:
    first = accepted(client, network)
    clock.advance(seconds=1)
    second = accepted(client, network)
    first_packet, second_packet = pull(client, network, "nl-police")
    first_receipt = receipt_for(network, "nl-police", first_packet, received_at=clock.now)
    refused = misdigested(network, "nl-police", second_packet, clock.now)
    answer = send_receipts(client, network, "nl-police", [first_receipt, refused])
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["receipts.1"]
    unmarked = delivery_of(client, network, first["report_id"], "nl-police")
    assert (unmarked["state"], unmarked["last_error"]) == ("leased", None)
    marked = delivery_of(client, network, second["report_id"], "nl-police")
    assert (marked["state"], marked["last_error"]) == ("stuck", DIGEST_REFUSED)
    second_receipt = receipt_for(network, "nl-police", second_packet, received_at=clock.now)
    answer = send_receipts(client, network, "nl-police", [first_receipt, second_receipt])
    assert answer.status_code == 200, answer.text
    for report in (first, second):
        delivery = delivery_of(client, network, report["report_id"], "nl-police")
        assert (delivery["state"], delivery["last_error"]) == ("delivered", None)


def test_a_refused_receipt_that_names_no_packet_id_is_refused_cleanly_and_marks_nothing(
    client: TestClient, network: Network, clock: Clock
) -> None:
    report = accepted(client, network)
    [packet] = pull(client, network, "nl-police")
    genuine = receipt_for(network, "nl-police", packet, received_at=clock.now)
    packet_id = packet_id_of(packet)
    body = json.loads(base64.b64decode(genuine["payload"]))
    payloads = [
        b"packet_id: " + packet_id.encode(),  # not JSON
        b"\xff" + json.dumps(body).encode(),  # not UTF-8
        json.dumps({**body, "packet_id": None, "packetId": packet_id}).encode(),
        json.dumps({k: v for k, v in body.items() if k != "packet_id"}).encode(),
        json.dumps({**body, "packet_id": [packet_id]}).encode(),
        json.dumps({**body, "packet_id": {"packet_id": packet_id}}).encode(),
        json.dumps({**body, "packet_id": 12345}).encode(),
        json.dumps([body]).encode(),  # JSON, but not an object
        json.dumps(packet_id).encode(),
        b"[" * 5_000 + b"]" * 5_000,  # too deep to parse
    ]
    receipts = [_signed(network, "nl-police", genuine, p) for p in payloads]
    # Not base64: one character short of the genuine payload; and the genuine body with one
    # padding character too many, which a lenient decoder would read.
    receipts.append({**genuine, "payload": genuine["payload"].rstrip("=")[:-1]})
    text = json.dumps(body).encode()
    text += b" " * ((2 - len(text)) % 3)
    receipts.append({**genuine, "payload": base64.b64encode(text).decode() + "="})
    answer = send_receipts(client, network, "nl-police", receipts)
    assert answer.status_code == 422, answer.text
    schema = "signature verified, but the body does not match its schema: "
    not_json, not_uuid, not_object = (
        "not valid JSON",
        "packet_id: must be a UUID",
        "must be an object",
    )
    reasons = [not_json, not_json, not_uuid + "; unknown field", "packet_id: required"]
    reasons += [not_uuid] * 3 + [not_object] * 2 + [not_json]
    assert answer.json()["errors"] == [
        *({"field": f"receipts.{n}", "reason": schema + r} for n, r in enumerate(reasons)),
        {"field": "receipts.10", "reason": "signed object failed verification"},
        {"field": "receipts.11", "reason": "signed object failed verification"},
    ]
    delivery = delivery_of(client, network, report["report_id"], "nl-police")
    assert (delivery["state"], delivery["last_error"]) == ("leased", None)


def test_a_refused_receipt_claiming_a_longer_packet_id_marks_the_one_its_first_36_name(
    client: TestClient, network: Network, clock: Clock
) -> None:
    report = accepted(client, network)
    [packet] = pull(client, network, "nl-police")
    genuine = receipt_for(network, "nl-police", packet, received_at=clock.now)
    longer = _resigned(network, "nl-police", genuine, packet_id=packet_id_of(packet) + "0")
    answer = send_receipts(client, network, "nl-police", [longer])
    assert answer.status_code == 422, answer.text
    assert delivery_of(client, network, report["report_id"], "nl-police")["state"] == "stuck"


def test_a_held_delivery_shows_awaiting_reseal_with_its_key_and_awaiting_key_without_one(
    client: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    sealed = accepted(client, network)
    [packet] = pull(client, network, "nl-police")
    refused = misdigested(network, "nl-police", packet, clock.now)
    assert send_receipts(client, network, "nl-police", [refused]).status_code == 422
    with Session(engine) as session:
        revoke(session, network.keys("nl-police").public.sealing_key_id, clock.now)
    held = delivery_of(client, network, sealed["report_id"], "nl-police")
    assert (held["state"], held["lease_until"]) == ("awaiting_reseal", None)
    keyless = accepted(client, network)
    waiting = delivery_of(client, network, keyless["report_id"], "nl-police")
    assert (waiting["state"], waiting["last_error"]) == (
        "awaiting_key",
        "no current sealing key at intake",
    )


def _kill(engine: Engine, packet_id: str, at: datetime, *, purged: bool = False) -> None:
    """Make a delivery dead, as the push worker leaves one after its retry window."""
    with Session(engine) as session:
        row = session.get(DeliveryRow, packet_id)
        assert row is not None
        row.state = DeliveryState.dead
        row.attempts = 9
        row.dead_at = at
        row.lease_until = at
        row.next_attempt_at = at
        row.window_start = at
        row.packet = None if purged else row.packet
        session.add(row)
        session.commit()


def test_redriving_gives_a_dead_delivery_a_new_window_from_now_and_leaves_the_others(
    client: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    accepted(client, network, source="portal-nl", nationalities=("DE", "AT"))
    with Session(engine) as session:
        ids = list(session.exec(select(DeliveryRow.packet_id).order_by(DeliveryRow.packet_id)))
    named, other = ids[0], ids[1]
    died = clock() - timedelta(days=3)
    for packet_id in (named, other):
        _kill(engine, packet_id, died)
    later = clock() + timedelta(hours=1)
    with Session(engine) as session:
        assert redrive(session, packet_ids=[named], now=later, actor="alice") == [named]
    with Session(engine) as session:
        row = session.get(DeliveryRow, named)
        assert row is not None
        assert (row.state, row.attempts, row.dead_at, row.lease_until) == ("pending", 0, None, None)
        assert (row.next_attempt_at, row.window_start) == (later, later)
        untouched = session.get(DeliveryRow, other)
        assert untouched is not None
        assert (untouched.state, untouched.attempts, untouched.dead_at) == ("dead", 9, died)
        entries = session.exec(
            select(AuditEntryRow.entry).where(AuditEntryRow.kind == "delivery_redriven")
        ).all()
    assert len(entries) == 1
    event = json.loads(entries[0])["event"]
    assert (event["packet_id"], event["actor"]) == (named, "alice")


def test_redriving_a_delivery_that_is_not_dead_or_was_purged_is_refused_and_changes_nothing(
    client: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    accepted(client, network, source="portal-nl", nationalities=("DE", "AT"))
    with Session(engine) as session:
        ids = list(session.exec(select(DeliveryRow.packet_id).order_by(DeliveryRow.packet_id)))
    dead, purged, alive = ids[0], ids[1], ids[2]
    _kill(engine, dead, clock())
    _kill(engine, purged, clock(), purged=True)
    for wanted in ([dead, alive], [purged]):
        with Session(engine) as session, pytest.raises(NotFound) as refused:
            redrive(session, packet_ids=wanted, now=clock())
        assert str(wanted[-1]) in str(refused.value)
    with Session(engine) as session:
        row = session.get(DeliveryRow, dead)
        assert row is not None
        assert row.state == "dead"
        # All of them: every dead delivery whose bytes are kept, none that was purged.
        assert redrive(session, packet_ids=None, now=clock()) == [dead]
    with Session(engine) as session:
        gone = session.get(DeliveryRow, purged)
        assert gone is not None
        assert gone.state == "dead"


def test_a_receipt_that_names_the_caller_for_another_recipients_packet_is_rejected(
    client: TestClient, network: Network
) -> None:
    report = accepted(client, network)
    [packet] = pull(client, network, "nl-police")
    receipt = _resigned(
        network, "nl-section", receipt_for(network, "nl-police", packet), recipient_id="nl-section"
    )
    assert send_receipts(client, network, "nl-section", [receipt]).status_code == 422
    assert delivery_of(client, network, report["report_id"], "nl-police")["state"] == "leased"


def test_a_packet_is_offered_again_at_the_very_instant_its_lease_ends(
    client: TestClient, network: Network, clock: Clock
) -> None:
    accepted(client, network)
    answer = client.get("/v1/inbox", headers=network.auth("nl-police"))
    clock.now = datetime.fromisoformat(answer.json()["lease_until"])
    assert len(pull(client, network, "nl-police")) == 1


def _pulled_ids(client: TestClient, network: Network, limit: int) -> list[str]:
    answer = client.get("/v1/inbox", params={"limit": limit}, headers=network.auth("nl-police"))
    assert answer.status_code == 200, answer.text
    return [packet_id_of(Envelope.model_validate(p)) for p in answer.json()["packets"]]


def _stored_order(engine: Engine) -> list[str]:
    with Session(engine) as session:
        rows = session.exec(
            select(DeliveryRow).where(DeliveryRow.recipient_id == "nl-police")
        ).all()
    return [row.packet_id for row in sorted(rows, key=lambda r: (r.created_at, r.packet_id))]


def six_reports_a_second_apart(client: TestClient, network: Network, clock: Clock) -> None:
    for _ in range(6):
        accepted(client, network)
        clock.advance(seconds=1)


def test_a_pull_takes_the_oldest_packets_first_up_to_its_limit(
    client: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    six_reports_a_second_apart(client, network, clock)
    oldest_first = _stored_order(engine)
    assert [_pulled_ids(client, network, 1) for _ in range(6)] == [[p] for p in oldest_first]


def test_one_pull_of_packets_stored_at_different_instants_lists_them_oldest_first(
    client: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    six_reports_a_second_apart(client, network, clock)
    assert _pulled_ids(client, network, 10) == _stored_order(engine)


def test_packets_stored_at_the_same_instant_are_pulled_in_packet_id_order(
    client: TestClient, network: Network, engine: Engine
) -> None:
    for _ in range(6):
        accepted(client, network)
    in_order = _stored_order(engine)
    assert _pulled_ids(client, network, 3) == in_order[:3]
    assert _pulled_ids(client, network, 10) == in_order[3:]


def test_a_pull_is_written_in_the_audit_log_for_each_packet_it_leased(
    client: TestClient, network: Network, engine: Engine
) -> None:
    accepted(client, network)
    accepted(client, network)
    leased = _pulled_ids(client, network, 10)
    with Session(engine) as session:
        entries = session.exec(
            select(AuditEntryRow).where(AuditEntryRow.kind == "packet_pulled")
        ).all()
    assert sorted(json.loads(e.entry)["event"]["packet_id"] for e in entries) == sorted(leased)


def test_a_dead_and_purged_delivery_shows_when_it_died_and_was_purged(
    client: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    report = accepted(client, network)
    packet_id = delivery_of(client, network, report["report_id"], "nl-police")["packet_id"]
    _kill(engine, packet_id, clock.now, purged=True)
    with Session(engine) as session:
        row = session.get(DeliveryRow, packet_id)
        assert row is not None
        row.purged_at = clock.now + timedelta(hours=1)
        session.add(row)
        session.commit()
    shown = delivery_of(client, network, report["report_id"], "nl-police")
    assert datetime.fromisoformat(shown["dead_at"]) == clock.now
    assert datetime.fromisoformat(shown["purged_at"]) == clock.now + timedelta(hours=1)


def test_a_listed_delivery_under_lease_shows_leased(
    client: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    accepted(client, network)
    [leased] = _pulled_ids(client, network, 10)
    with Session(engine) as session:
        listed = deliveries_in_state(session, state=DeliveryState.pending, now=clock(), limit=100)
    assert {d.packet_id: d.state for d in listed}[leased] is DeliveryState.leased


def test_a_batch_of_refused_receipts_is_one_audit_entry_counting_them(
    client: TestClient, network: Network, engine: Engine
) -> None:
    accepted(client, network)
    accepted(client, network)
    packets = pull(client, network, "nl-police")
    receipts = [
        _resigned(
            network, "nl-police", receipt_for(network, "nl-police", p), sealed_sha256="0" * 64
        )
        for p in packets
    ]
    assert send_receipts(client, network, "nl-police", receipts).status_code == 422
    with Session(engine) as session:
        [entry] = session.exec(
            select(AuditEntryRow).where(AuditEntryRow.kind == "receipt_rejected")
        ).all()
    assert json.loads(entry.entry)["event"]["count"] == 2
