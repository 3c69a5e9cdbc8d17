"""Key rotation and revocation: old packets still open, new ones use the new key, a revoked key
is never used again, and its undelivered packets are sealed again from the source's resend."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from connectors.config import load_config
from connectors.recipient.pull import pull_until_empty
from hub.crypto import open_packet, sign_receipt
from hub.delivery.rotation import revoke
from hub.errors import PacketInvalid
from hub.http.app import create_app
from hub.http.server import serving
from hub.network.directory import KeyPurpose, add_key
from hub.settings import Settings
from hub.store import make_engine
from keys import KeySet, generate_keyset, read_passphrase, write_keyset
from schemas.envelope import Envelope, PacketBody
from tests.conftest import Clock, Network, provision
from tests.factories import report_body


def submit(client: TestClient, network: Network, body: dict[str, Any]) -> None:
    answer = client.post("/v1/reports", json=body, headers=network.auth(body["source"]))
    assert answer.status_code == 202, answer.text


def inbox(client: TestClient, network: Network, recipient: str) -> list[Envelope]:
    answer = client.get("/v1/inbox", headers=network.auth(recipient))
    return [Envelope.model_validate(p) for p in answer.json()["packets"]]


def body_of(packet: Envelope) -> PacketBody:
    return PacketBody.model_validate_json(base64.b64decode(packet.payload))


def register(
    engine: Engine, recipient: str, keys: KeySet, purpose: KeyPurpose, at: datetime
) -> str:
    public = keys.public
    raw = (
        bytes(public.sealing)
        if purpose is KeyPurpose.sealing and public.sealing
        else bytes(public.signing)
    )
    with Session(engine) as session:
        row = add_key(session, recipient, purpose, raw, valid_from=at)
        session.commit()
        return row.key_id


def test_packets_use_a_new_key_from_its_start_and_old_packets_still_open(
    client: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    old = network.keys("nl-police")
    new = generate_keyset()
    register(engine, "nl-police", new, KeyPurpose.sealing, clock.now + timedelta(hours=1))
    before = report_body()
    submit(client, network, before)
    clock.advance(hours=2)
    after = report_body()
    submit(client, network, after)
    packets = {str(body_of(p).report_id): p for p in inbox(client, network, "nl-police")}
    assert old.sealing is not None
    assert new.sealing is not None
    trust = network.hub_trust()
    assert open_packet(packets[before["report_id"]], hub_keys=trust, private=old.sealing)
    assert open_packet(packets[after["report_id"]], hub_keys=trust, private=new.sealing)
    with pytest.raises(PacketInvalid):
        open_packet(packets[after["report_id"]], hub_keys=trust, private=old.sealing)


def test_the_connector_opens_packets_sealed_before_and_after_a_rotation(
    settings: Settings, tmp_path: Path
) -> None:
    with serving(create_app(settings)) as url:
        network = provision(settings, tmp_path / "parties", url)
        first = report_body()
        _post(url, network, first)
        new = generate_keyset()
        config_path = network.connector_config("nl-police")
        config = json.loads(config_path.read_text())
        passphrase = read_passphrase(config_path.parent / config["passphrase_file"])
        write_keyset(
            new,
            config_path.parent / "nl-police-2.keys.pem",
            name="nl-police",
            passphrase=passphrase,
        )
        config["previous_keys_files"] = [config["keys_file"]]
        config["keys_file"] = "nl-police-2.keys.pem"
        config_path.write_text(json.dumps(config))
        engine = make_engine(settings.resolved_database_url)
        register(engine, "nl-police", new, KeyPurpose.sealing, datetime.now(UTC))
        register(engine, "nl-police", new, KeyPurpose.receipt, datetime.now(UTC))
        engine.dispose()
        second = report_body()
        _post(url, network, second)
        result = pull_until_empty(load_config(config_path))
    assert sorted(result.report_ids) == sorted([first["report_id"], second["report_id"]])


def _post(url: str, network: Network, body: dict[str, Any]) -> None:
    answer = httpx.post(f"{url}/v1/reports", json=body, headers=network.auth(body["source"]))
    assert answer.status_code == 202, answer.text


@pytest.fixture
def rotated(
    client: TestClient, network: Network, engine: Engine, clock: Clock
) -> tuple[dict[str, Any], KeySet, str]:
    """A report pending for nl-police, whose key is then replaced and revoked."""
    body = report_body()
    submit(client, network, body)
    new = generate_keyset()
    register(engine, "nl-police", new, KeyPurpose.sealing, clock.now)
    old_key_id = network.keys("nl-police").public.sealing_key_id
    with Session(engine) as session:
        held = revoke(session, old_key_id, clock.now)
    assert len(held) == 1
    return body, new, old_key_id


def test_a_revoked_key_is_never_used_again_and_its_packets_are_held(
    client: TestClient, network: Network, rotated: tuple[dict[str, Any], KeySet, str]
) -> None:
    body, new, old_key_id = rotated
    assert inbox(client, network, "nl-police") == []
    requests = client.get("/v1/reseal-requests", headers=network.auth("portal-nl"))
    assert requests.json() == {"report_ids": [body["report_id"]]}
    later = report_body()
    submit(client, network, later)
    [packet] = inbox(client, network, "nl-police")
    assert body_of(packet).recipient_key_id == new.public.sealing_key_id != old_key_id


def test_a_resent_report_is_sealed_again_to_the_current_key(
    client: TestClient,
    network: Network,
    rotated: tuple[dict[str, Any], KeySet, str],
) -> None:
    body, new, _ = rotated
    submit(client, network, body)
    [packet] = inbox(client, network, "nl-police")
    assert new.sealing is not None
    opened = open_packet(packet, hub_keys=network.hub_trust(), private=new.sealing)
    assert str(opened.report.report_id) == body["report_id"]
    assert client.get("/v1/reseal-requests", headers=network.auth("portal-nl")).json() == {
        "report_ids": []
    }
    status = client.get(
        f"/v1/reports/{body['report_id']}/deliveries", headers=network.auth("network-coordinator")
    ).json()
    states = sorted(d["state"] for d in status["deliveries"] if d["recipient_id"] == "nl-police")
    assert states == ["leased", "superseded"]


def test_a_resend_with_other_content_does_not_reseal(
    client: TestClient, network: Network, rotated: tuple[dict[str, Any], KeySet, str]
) -> None:
    body, _, _ = rotated
    body["incident"]["description"] = "Tampered with."
    answer = client.post("/v1/reports", json=body, headers=network.auth("portal-nl"))
    assert answer.status_code == 409
    assert inbox(client, network, "nl-police") == []


def test_receipts_signed_with_a_revoked_receipt_key_are_refused(
    client: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    submit(client, network, report_body())
    [packet] = inbox(client, network, "nl-police")
    old = network.keys("nl-police")
    assert old.sealing is not None
    opened = open_packet(packet, hub_keys=network.hub_trust(), private=old.sealing)
    new = generate_keyset()
    register(engine, "nl-police", new, KeyPurpose.receipt, clock.now)
    with Session(engine) as session:
        revoke(session, old.public.signing_key_id, clock.now)

    def receipt(signer: KeySet) -> dict[str, Any]:
        return sign_receipt(
            packet=opened.body,
            sealed_sha256=opened.sealed_sha256,
            received_at=clock.now,
            key=signer.signing,
        ).model_dump(mode="json")

    headers = network.auth("nl-police")
    refused = client.post("/v1/receipts", json={"receipts": [receipt(old)]}, headers=headers)
    assert refused.status_code == 422
    accepted = client.post("/v1/receipts", json={"receipts": [receipt(new)]}, headers=headers)
    assert accepted.status_code == 200
