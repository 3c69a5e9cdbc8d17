"""The connector and recipient keys: a pull that rejects a packet or has a receipt refused exits
non-zero and says why; stored receipts go out signed with the current receipt key, so a revoked
one never leaves a delivery stuck; readings open with every configured key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from connectors.cli.main import app as connector
from connectors.config import key_passphrase, load_config
from hub.delivery.rotation import revoke
from hub.http.app import create_app
from hub.http.server import serving
from hub.network.directory import KeyPurpose
from hub.settings import Settings
from hub.store import make_engine
from keys import KeySet, generate_keyset, write_keyset
from tests.conftest import Clock, Network, choose_readable_files, provision
from tests.factories import report_body
from tests.hub.delivery.test_rotation import register


class Hub:
    """A hub on loopback with the demo network, on the test's clock."""

    def __init__(self, url: str, network: Network, settings: Settings, clock: Clock) -> None:
        self.url, self.network, self.settings, self.clock = url, network, settings, clock

    def submit(self) -> dict[str, Any]:
        body = report_body()
        answer = httpx.post(
            f"{self.url}/v1/reports", json=body, headers=self.network.auth(body["source"])
        )
        assert answer.status_code == 202, answer.text
        return body

    def states(self, report_id: str, recipient: str) -> list[str]:
        status = httpx.get(
            f"{self.url}/v1/reports/{report_id}/deliveries",
            headers=self.network.auth("network-coordinator"),
        ).json()
        return sorted(d["state"] for d in status["deliveries"] if d["recipient_id"] == recipient)

    def register(self, keys: KeySet, *purposes: KeyPurpose) -> None:
        engine = make_engine(self.settings.resolved_database_url)
        for purpose in purposes:
            register(engine, "nl-police", keys, purpose, self.clock.now)
        engine.dispose()

    def revoke(self, key_id: str) -> None:
        engine = make_engine(self.settings.resolved_database_url)
        with Session(engine) as session:
            revoke(session, key_id, self.clock.now)
        engine.dispose()


@pytest.fixture
def hub(settings: Settings, tmp_path: Path, clock: Clock) -> Iterator[Hub]:
    with serving(create_app(settings, clock=clock)) as url:
        network = provision(settings, tmp_path / "parties", url)
        # Provisioning stamps the first keys with the time it ran: the test's clock starts after.
        clock.advance(minutes=5)
        yield Hub(url, network, settings, clock)


def move_to_new_keys(hub: Hub) -> KeySet:
    """The member's side of a rotation (docs/delivery.md): new keys, the old file kept."""
    new = generate_keyset()
    config_path = hub.network.connector_config("nl-police")
    passphrase = key_passphrase(load_config(config_path))
    assert passphrase is not None
    write_keyset(
        new, config_path.parent / "nl-police-2.keys.pem", name="nl-police", passphrase=passphrase
    )
    config = json.loads(config_path.read_text())
    config["previous_keys_files"] = [config["keys_file"]]
    config["keys_file"] = "nl-police-2.keys.pem"
    config_path.write_text(json.dumps(config))
    return new


def pull(hub: Hub, *options: str) -> Any:
    config = hub.network.connector_config("nl-police")
    return CliRunner().invoke(connector, ["pull", "--config", str(config), *options])


def test_a_packet_sealed_to_a_key_the_connector_lacks_fails_the_pull_naming_the_key(
    hub: Hub,
) -> None:
    new = generate_keyset()
    hub.register(new, KeyPurpose.sealing)
    hub.submit()
    result = pull(hub, "--no-render")
    assert result.exit_code == 1, result.output
    assert "1 packet(s) rejected" in result.output
    assert (
        f"sealed to sealing key {new.public.sealing_key_id}, which neither keys_file nor "
        "previous_keys_files holds"
    ) in result.output


def test_readings_after_a_rotation_open_with_the_previous_key_file(hub: Hub) -> None:
    first = hub.submit()
    new = move_to_new_keys(hub)
    hub.register(new, KeyPurpose.sealing, KeyPurpose.receipt)
    hub.clock.advance(seconds=1)
    second = hub.submit()
    choose_readable_files(hub.network.connector_config("nl-police"))
    result = pull(hub, "--no-pdf")
    assert result.exit_code == 0, result.output
    assert "2 new packet(s) stored" in result.output
    reports = hub.network.connector_config("nl-police").parent
    for body in (first, second):
        assert list(reports.rglob(f"{body['report_id']}.*.html")), body["report_id"]


def test_a_refused_receipt_is_reported_shown_stuck_and_resent_with_the_new_receipt_key(
    hub: Hub,
) -> None:
    body = hub.submit()
    old = hub.network.keys("nl-police")
    new = generate_keyset()
    # The stolen-key runbook: new keys registered, the old receipt key revoked, before the
    # member's connector has moved to the new keys.
    hub.register(new, KeyPurpose.sealing, KeyPurpose.receipt)
    hub.revoke(old.public.signing_key_id)
    refused = pull(hub, "--no-render")
    assert refused.exit_code == 1, refused.output
    assert "1 receipt(s) refused" in refused.output
    assert "refused by the hub" in refused.output
    assert hub.states(body["report_id"], "nl-police") == ["stuck"]
    # The member moves to the new keys; after the lease the packet comes again.
    config = hub.network.connector_config("nl-police")
    passphrase = key_passphrase(load_config(config))
    assert passphrase is not None
    write_keyset(
        new, config.parent / "nl-police-2.keys.pem", name="nl-police", passphrase=passphrase
    )
    document = json.loads(config.read_text())
    document["previous_keys_files"] = [document["keys_file"]]
    document["keys_file"] = "nl-police-2.keys.pem"
    config.write_text(json.dumps(document))
    hub.clock.advance(seconds=hub.settings.lease_seconds + 1)
    again = pull(hub, "--no-render")
    assert again.exit_code == 0, again.output
    assert hub.states(body["report_id"], "nl-police") == ["delivered"]
