"""The hub's own signing key rotates: the new key is endorsed by the old, published with its
validity, and connectors trust it through that endorsement alone."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from nacl.signing import SigningKey

from connectors.config import load_config
from connectors.recipient.pull import pull_until_empty
from connectors.recipient.trust import extend_trust
from hub.crypto import sign_envelope
from hub.http.app import create_app
from hub.http.server import serving
from hub.network.keyring import published_keys, rotate_hub_key
from hub.settings import Settings
from keys import fingerprint
from schemas.envelope import HUB_KEY_TYPE, HubKeyEndorsement, PublishedHubKey, PublishedHubKeys
from tests.conftest import Network, provision
from tests.factories import report_body
from tests.faults.harness import free_port


def post(url: str, network: Network) -> str:
    body = report_body()
    answer = httpx.post(f"{url}/v1/reports", json=body, headers=network.auth("portal-nl"))
    assert answer.status_code == 202, answer.text
    return str(body["report_id"])


def test_packets_signed_before_and_after_a_hub_key_rotation_are_all_accepted(
    settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    with serving(create_app(settings), port=port) as url:
        network = provision(settings, tmp_path / "parties", url)
        before = post(url, network)
    old_key = published_keys(settings).keys[-1].key_id
    new_entry = rotate_hub_key(settings, datetime.now(UTC))
    with serving(create_app(settings), port=port) as url:
        after = post(url, network)
        published = httpx.get(f"{url}/.well-known/ctt-hub-keys.json").json()["keys"]
        config = load_config(network.connector_config("nl-police"))
        result = pull_until_empty(config)
    assert sorted(result.report_ids) == sorted([before, after])
    assert [k["key_id"] for k in published] == [old_key, new_entry.key_id]
    assert published[0]["valid_until"] is not None
    assert published[1]["endorsement"] is not None
    assert config.hub_trust_file is not None
    assert new_entry.key_id in config.hub_trust_file.read_text()


def _entry(key: SigningKey, endorser: SigningKey | None) -> PublishedHubKey:
    raw = bytes(key.verify_key)
    public = base64.b64encode(raw).decode()
    key_id = fingerprint("ed25519", raw)
    now = datetime.now(UTC)
    endorsement = (
        sign_envelope(
            HUB_KEY_TYPE,
            HubKeyEndorsement(key_id=key_id, public_key=public, valid_from=now),
            endorser,
        )
        if endorser is not None
        else None
    )
    return PublishedHubKey(
        key_id=key_id, public_key=public, valid_from=now, endorsement=endorsement
    )


def test_only_a_chain_of_endorsements_from_a_trusted_key_extends_trust() -> None:
    root, second, third, stranger, intruder = (SigningKey.generate() for _ in range(5))
    trusted = {fingerprint("ed25519", bytes(root.verify_key)): root.verify_key}
    published = PublishedHubKeys(
        keys=[
            _entry(root, None),
            _entry(second, root),
            _entry(third, second),
            _entry(intruder, stranger),
        ]
    )
    extended = extend_trust(trusted, published)
    assert set(extended) == {
        fingerprint("ed25519", bytes(k.verify_key)) for k in (root, second, third)
    }


def test_an_endorsement_for_another_key_is_not_accepted() -> None:
    root, genuine, swapped = (SigningKey.generate() for _ in range(3))
    trusted = {fingerprint("ed25519", bytes(root.verify_key)): root.verify_key}
    entry = _entry(genuine, root)
    forged = entry.model_copy(
        update={
            "public_key": base64.b64encode(bytes(swapped.verify_key)).decode(),
            "key_id": fingerprint("ed25519", bytes(swapped.verify_key)),
        }
    )
    assert extend_trust(trusted, PublishedHubKeys(keys=[forged])) == trusted


def test_a_process_publishes_and_signs_with_a_rotated_key_only_once_it_restarts(
    settings: Settings,
) -> None:
    """docs/hub-key-rotation.md, step 3: the keys are read when a process starts."""
    old_key = published_keys(settings).keys[-1].key_id
    with TestClient(create_app(settings.model_copy(update={"scheduler": False}))) as running:
        new_key = rotate_hub_key(settings, datetime.now(UTC)).key_id
        still = [k["key_id"] for k in running.get("/v1/hub/keys").json()["keys"]]
    with TestClient(create_app(settings.model_copy(update={"scheduler": False}))) as restarted:
        published = [k["key_id"] for k in restarted.get("/v1/hub/keys").json()["keys"]]
    assert still == [old_key]
    assert published == [old_key, new_key]
