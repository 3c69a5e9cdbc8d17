"""The hub's half of onboarding: registrations are checked key by key and taken all or none,
and a test packet is sealed to the one recipient being tested."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from connectors.countries.profiles import load_profiles
from connectors.recipient.onboard import init_member
from hub.errors import InvalidInput, NotFound
from hub.network.keyring import load_hub_secrets
from hub.onboarding.member import (
    ONBOARDING_SOURCE,
    TEST_RULE,
    onboarding_deliveries,
    read_registration,
    register_recipients,
    send_onboarding_packet,
)
from hub.settings import Settings
from hub.store import DeliveryRow, RecipientRow, ReportRow
from tests.conftest import ROOT, Network

EXAMPLES = ROOT / "docs" / "examples" / "profiles"


@pytest.fixture
def registration(tmp_path: Path, settings: Settings) -> Path:
    """France's registration folder, as `connector init` writes it on the member's side."""
    france = load_profiles([EXAMPLES]).get("FR")
    setup = init_member(
        france,
        out=tmp_path / "fr-member",
        hub_url="http://127.0.0.1:9",
        hub_key_file=settings.hub_public_key_file,
    )
    return setup.registration_dir


def _registered(engine: Engine) -> set[str]:
    with Session(engine) as session:
        return set(session.exec(select(RecipientRow.id)).all())


def test_a_registration_registers_each_recipient_and_issues_one_token_each(
    registration: Path, engine: Engine, network: Network
) -> None:
    document, keys = read_registration(registration)
    with Session(engine) as session:
        issued = register_recipients(session, document, keys, now=datetime.now(UTC))
    assert [i.recipient_id for i in issued] == ["fr-section", "fr-police"]
    assert all(i.token.startswith("hubrcp_") for i in issued)
    assert {"fr-section", "fr-police"} <= _registered(engine)


def test_a_key_file_that_does_not_hold_the_stated_key_is_refused(
    registration: Path, engine: Engine, network: Network
) -> None:
    path = registration / "registration.json"
    document = json.loads(path.read_text())
    document["recipients"][1]["public_keys_file"] = "fr-section.pub.json"  # the wrong keys
    path.write_text(json.dumps(document))
    with pytest.raises(InvalidInput) as raised:
        read_registration(registration)
    assert raised.value.errors[0].field == "recipients.1.sealing_key_id"


def test_a_registration_with_a_taken_id_registers_nobody(
    registration: Path, engine: Engine, network: Network
) -> None:
    path = registration / "registration.json"
    document = json.loads(path.read_text())
    document["recipients"][1]["id"] = "nl-police"  # already in the network
    path.write_text(json.dumps(document))
    # The key file name no longer matches the id, which the registration allows.
    registered, keys = read_registration(registration)
    with Session(engine) as session, pytest.raises(InvalidInput, match="nl-police exists"):
        register_recipients(session, registered, keys, now=datetime.now(UTC))
    assert "fr-section" not in _registered(engine)


def test_a_test_packet_is_sealed_to_the_tested_recipient_alone(
    settings: Settings, engine: Engine, network: Network
) -> None:
    secrets, _ = load_hub_secrets(settings)
    now = datetime.now(UTC)
    with Session(engine) as session:
        packet = send_onboarding_packet(session, "be-police", secrets=secrets, now=now)
    with Session(engine) as session:
        report = session.get(ReportRow, packet.report_id)
        assert report is not None
        assert report.source_id == ONBOARDING_SOURCE
        rows = session.exec(
            select(DeliveryRow).where(DeliveryRow.report_id == packet.report_id)
        ).all()
        assert [(r.recipient_id, r.rules) for r in rows] == [("be-police", TEST_RULE)]
        (status,) = onboarding_deliveries(session, "be-police", now=now)
        assert status.packet_id == packet.packet_id
        assert status.state.value == "pending"
        assert onboarding_deliveries(session, "be-section", now=now) == []


def test_a_test_packet_for_nobody_is_refused(
    settings: Settings, engine: Engine, network: Network
) -> None:
    secrets, _ = load_hub_secrets(settings)
    with Session(engine) as session, pytest.raises(NotFound):
        send_onboarding_packet(session, "fr-police", secrets=secrets, now=datetime.now(UTC))
