"""Tampering end to end: a packet changed on its way, or signed by a key that is not the hub's,
is refused by the recipient's connector (by pull and by push), logged, never stored, never
receipted. The other tampering cases are where their code is tested: a receipt for another
packet or signed by another recipient (tests/hub/delivery/test_delivery.py), a replayed push
(tests/hub/delivery/test_push.py); docs/threat-model.md lists them all."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from standardwebhooks import Webhook
from structlog.testing import capture_logs

from connectors.config import ConnectorConfig, load_config
from connectors.recipient.pull import pull_once
from connectors.recipient.receiver import create_receiver
from hub.crypto import pae
from hub.store import DeliveryRow, make_engine
from keys import generate_keyset
from schemas.envelope import PACKET_TYPE, Envelope
from tests.conftest import LiveHub, Network
from tests.factories import report_body

SECRET = "whsec_" + base64.b64encode(b"tampering-test-webhook-secret!!!").decode()


def _flip_a_bit(envelope: Envelope) -> Envelope:
    payload = bytearray(base64.b64decode(envelope.payload))
    payload[len(payload) // 2] ^= 0x04
    return envelope.model_copy(update={"payload": base64.b64encode(bytes(payload)).decode()})


def _signed_by_another_key(envelope: Envelope) -> Envelope:
    """The same payload, signed by a stranger under the hub's key id."""
    stranger = generate_keyset(sealing=False).signing
    payload = base64.b64decode(envelope.payload)
    signature = stranger.sign(pae(PACKET_TYPE, payload)).signature
    forged = envelope.signatures[0].model_copy(update={"sig": base64.b64encode(signature).decode()})
    return envelope.model_copy(update={"signatures": [forged]})


def _stored_reports(config: ConnectorConfig) -> list[Path]:
    folders = [config.store_dir / "packets", config.store_dir / "reports"]
    return sorted(path for folder in folders if folder.exists() for path in folder.glob("*"))


def _packets_at_the_hub(hub: LiveHub, recipient: str) -> list[DeliveryRow]:
    engine = make_engine(hub.settings.resolved_database_url)
    with Session(engine, expire_on_commit=False) as session:
        rows = session.exec(select(DeliveryRow).where(DeliveryRow.recipient_id == recipient))
        found = list(rows.all())
    engine.dispose()
    return found


def _replace_packet(hub: LiveHub, packet_id: str, envelope: Envelope) -> None:
    """What an attacker who can write the hub's database, or the wire, would do."""
    engine = make_engine(hub.settings.resolved_database_url)
    with Session(engine) as session:
        row = session.get(DeliveryRow, packet_id)
        assert row is not None
        row.packet = envelope.model_dump_json()
        session.add(row)
        session.commit()
    engine.dispose()


def test_a_packet_with_a_flipped_bit_is_refused_by_the_pulling_connector_and_logged(
    live_hub: LiveHub,
) -> None:
    body = report_body("portal-nl", nationalities=("NL",))
    answer = httpx.post(
        f"{live_hub.url}/v1/reports", json=body, headers=live_hub.network.auth("portal-nl")
    )
    assert answer.status_code == 202
    [row] = _packets_at_the_hub(live_hub, "nl-police")
    assert row.packet is not None
    _replace_packet(live_hub, row.packet_id, _flip_a_bit(Envelope.model_validate_json(row.packet)))
    config = load_config(live_hub.network.connector_config("nl-police"))
    with capture_logs() as logs:
        result = pull_once(config)
    assert result.rejected == [row.packet_id]
    assert result.stored == []
    assert _stored_reports(config) == []
    assert any(
        e["event"] == "packet_rejected" and e["claimed_packet_id"] == row.packet_id for e in logs
    )
    [after] = _packets_at_the_hub(live_hub, "nl-police")
    assert after.state == "pending"
    assert after.receipt is None


def test_a_pushed_packet_signed_by_another_key_is_refused_by_the_receiver_and_logged(
    client: TestClient, network: Network
) -> None:
    body = report_body("portal-nl", nationalities=("NL",))
    assert (
        client.post("/v1/reports", json=body, headers=network.auth("portal-nl")).status_code == 202
    )
    [packet] = client.get("/v1/inbox", headers=network.auth("nl-police")).json()["packets"]
    forged = _signed_by_another_key(Envelope.model_validate(packet)).model_dump_json()
    packet_id = json.loads(base64.b64decode(packet["payload"]))["packet_id"]
    config_path = network.connector_config("nl-police")
    (config_path.parent / "webhook-secret.txt").write_text(SECRET + "\n")
    config_data = json.loads(config_path.read_text())
    config_data["webhook_secret_file"] = "webhook-secret.txt"
    config_path.write_text(json.dumps(config_data))
    config = load_config(config_path)
    now = datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": packet_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(SECRET).sign(packet_id, now, forged),
    }
    with TestClient(create_receiver(config)) as receiver, capture_logs() as logs:
        answer = receiver.post("/packets", content=forged, headers=headers)
    assert answer.status_code == 422
    assert "receipt" not in answer.json()
    assert any(
        e["event"] == "push_refused" and e["reason"] == "packet does not verify" for e in logs
    )
    assert _stored_reports(config) == []


def test_a_pulled_packet_signed_by_another_key_is_refused_too(live_hub: LiveHub) -> None:
    body = report_body("portal-at", nationalities=("AT",))
    answer = httpx.post(
        f"{live_hub.url}/v1/reports", json=body, headers=live_hub.network.auth("portal-at")
    )
    assert answer.status_code == 202
    [row] = _packets_at_the_hub(live_hub, "at-police")
    assert row.packet is not None
    forged = _signed_by_another_key(Envelope.model_validate_json(row.packet))
    _replace_packet(live_hub, row.packet_id, forged)
    with capture_logs() as logs:
        result = pull_once(load_config(live_hub.network.connector_config("at-police")))
    assert result.rejected == [row.packet_id]
    assert any(e["event"] == "packet_rejected" for e in logs)
