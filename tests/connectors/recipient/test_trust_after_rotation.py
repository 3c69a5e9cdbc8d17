"""Connectors made by `connector init` survive a hub key rotation: they follow the hub's published
key history from the key pinned at init, and one given a packet it cannot trust exits non-zero."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from connectors.cli.main import app as connector_app
from connectors.config import load_config
from connectors.countries.profiles import load_profiles
from connectors.recipient.onboard import MemberSetup, init_member
from connectors.recipient.pull import pull_until_empty
from hub.http.app import create_app
from hub.http.server import serving
from hub.network.keyring import load_hub_secrets, rotate_hub_key
from hub.onboarding.member import read_registration, register_recipients, send_onboarding_packet
from hub.settings import Settings
from keys import generate_keyset, write_public_keyset
from tests.conftest import ROOT, Network
from tests.faults.harness import free_port

EXAMPLES = ROOT / "docs" / "examples" / "profiles"


def _france(
    settings: Settings, engine: Engine, out: Path, url: str, pinned: Path | None = None
) -> MemberSetup:
    """France onboarded as the documents say: `connector init`, then `hub recipients add`."""
    france = load_profiles([EXAMPLES]).get("FR")
    hub_key = pinned or settings.hub_public_key_file
    setup = init_member(france, out=out, hub_url=url, hub_key_file=hub_key)
    document, keys = read_registration(setup.registration_dir)
    with Session(engine) as session:
        issued = register_recipients(session, document, keys, now=datetime.now(UTC))
    for made, token in zip(setup.recipients, issued, strict=True):
        made.credential_file.write_text(token.token + "\n")
    return setup


def _send_test_packet(settings: Settings, engine: Engine, recipient_id: str) -> str:
    secrets, _ = load_hub_secrets(settings)
    with Session(engine) as session:
        return send_onboarding_packet(
            session, recipient_id, secrets=secrets, now=datetime.now(UTC)
        ).packet_id


def test_connectors_made_by_init_accept_packets_signed_before_and_after_a_rotation(
    settings: Settings, engine: Engine, network: Network, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    setup = _france(settings, engine, tmp_path / "fr", url)
    before = _send_test_packet(settings, engine, "fr-police")
    rotate_hub_key(settings, datetime.now(UTC))
    after = _send_test_packet(settings, engine, "fr-police")
    config_file = setup.recipients[1].config_file
    with serving(create_app(settings), port=port):
        result = CliRunner().invoke(connector_app, ["pull", "--config", str(config_file)])
        again = pull_until_empty(load_config(config_file))
    assert result.exit_code == 0, result.output
    assert "2 new packet(s) stored" in result.output
    stored = {p.name.split(".")[0] for p in (config_file.parent / "inbox" / "packets").iterdir()}
    assert {before, after} <= stored
    config = load_config(config_file)
    assert config.hub_trust_file is not None
    assert config.hub_trust_file.exists()
    # Opening a stored packet afterwards trusts the new key too.
    opened = CliRunner().invoke(connector_app, ["open", "--config", str(config_file), after])
    assert opened.exit_code == 0, opened.output
    assert again.stored == []


def test_a_connector_given_packets_signed_by_a_key_not_chained_from_its_pin_exits_non_zero(
    settings: Settings, engine: Engine, network: Network, tmp_path: Path
) -> None:
    # The member pinned a key the hub never endorsed: no published key chains from it.
    stranger = tmp_path / "stranger.pub.json"
    write_public_keyset(generate_keyset(sealing=False).public, stranger, name="hub")
    port = free_port()
    setup = _france(settings, engine, tmp_path / "fr", f"http://127.0.0.1:{port}", stranger)
    _send_test_packet(settings, engine, "fr-police")
    rotate_hub_key(settings, datetime.now(UTC))
    config_file = setup.recipients[1].config_file
    with serving(create_app(settings), port=port):
        result = CliRunner().invoke(connector_app, ["pull", "--config", str(config_file)])
    assert result.exit_code == 1
    assert "not signed by a hub key this connector trusts" in result.output
    assert "the pinned key is not in the hub's published key history" in " ".join(
        result.output.split()
    )
    assert not any((config_file.parent / "inbox" / "packets").glob("*"))
