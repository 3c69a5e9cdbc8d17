"""docs/hub-key-rotation.md, "Stolen hub key", followed step by step with the project's commands:
why the chain cannot save trust once the key is stolen, the replacement key endorsed by nobody,
the member pinning it anew, and what the connector then accepts and refuses."""

from __future__ import annotations

import base64
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nacl.signing import SigningKey
from sqlalchemy import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from connectors.cli.main import app as connector
from connectors.countries.profiles import load_profiles
from connectors.recipient.onboard import MemberSetup, init_member
from connectors.recipient.trust import follow_chain
from connectors.recipient.trust import load_published_keys as published_keys_of
from hub.cli.main import app as hub
from hub.crypto import sign_envelope
from hub.http.app import create_app
from hub.http.server import serving
from hub.network.keyring import load_hub_secrets, published_keys
from hub.onboarding.member import read_registration, register_recipients, send_onboarding_packet
from hub.settings import Settings
from keys import KeySet, generate_keyset, load_keyset, load_public_keyset, read_passphrase
from schemas.envelope import HUB_KEY_TYPE, HubKeyEndorsement, PublishedHubKey, PublishedHubKeys
from tests.conftest import ROOT, Network
from tests.connectors.conftest import make_report, seal
from tests.faults.harness import free_port

EXAMPLES = ROOT / "docs" / "examples" / "profiles"


def _france(settings: Settings, engine: Engine, out: Path, url: str) -> MemberSetup:
    setup = init_member(
        load_profiles([EXAMPLES]).get("FR"),
        out=out,
        hub_url=url,
        hub_key_file=settings.hub_public_key_file,
    )
    document, keys = read_registration(setup.registration_dir)
    with Session(engine) as session:
        issued = register_recipients(session, document, keys, now=datetime.now(UTC))
    for made, token in zip(setup.recipients, issued, strict=True):
        made.credential_file.write_text(token.token + "\n")
    return setup


def _test_packet(settings: Settings, engine: Engine) -> str:
    secrets, _ = load_hub_secrets(settings)
    with Session(engine) as session:
        return send_onboarding_packet(
            session, "fr-police", secrets=secrets, now=datetime.now(UTC)
        ).packet_id


def _thiefs_key_endorsed_by(stolen: SigningKey, history: Path, thief: KeySet) -> None:
    """The hub's published history, and a key of the thief's endorsed by the stolen key."""
    now = datetime.now(UTC)
    public = base64.b64encode(bytes(thief.public.signing)).decode("ascii")
    key_id = thief.public.signing_key_id
    endorsement = sign_envelope(
        HUB_KEY_TYPE, HubKeyEndorsement(key_id=key_id, public_key=public, valid_from=now), stolen
    )
    forged = PublishedHubKey(
        key_id=key_id, public_key=public, valid_from=now, endorsement=endorsement
    )
    real = published_keys_of(history)
    forged_history = PublishedHubKeys(keys=[*real.keys, forged])
    history.write_text(forged_history.model_dump_json(), encoding="utf-8")


def _invoke(app: object, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))  # type: ignore[arg-type]
    return result.exit_code, " ".join(result.output.split())


def test_the_stolen_hub_key_runbook_keeps_members_from_trusting_the_thief(
    settings: Settings,
    engine: Engine,
    network: Network,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HUB_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("HUB_DATABASE_URL", settings.resolved_database_url)
    port = free_port()
    member = tmp_path / "fr"
    setup = _france(settings, engine, member, f"http://127.0.0.1:{port}")
    config = setup.recipients[1].config_file
    police_keys = load_keyset(
        config.parent / "fr-police.keys.pem", read_passphrase(setup.passphrase_file)
    )
    stolen_id = load_public_keyset(settings.hub_public_key_file).signing_key_id
    before = _test_packet(settings, engine)
    with serving(create_app(settings), port=port):
        assert _invoke(connector, "pull", "--config", str(config))[0] == 0
    pending = _test_packet(settings, engine)  # signed with the key about to be known stolen

    # Why the chain cannot save trust: the thief endorses a key of its own with the stolen key,
    # and a connector following the chain from the old pin would trust it.
    thief = generate_keyset(sealing=False)
    stolen = load_hub_secrets(settings)[0].signing_key
    history_file = tmp_path / "forged-hub-keys.json"  # what a thief's hub would publish
    history_file.write_text(published_keys(settings).model_dump_json(), encoding="utf-8")
    _thiefs_key_endorsed_by(stolen, history_file, thief)
    pinned = {stolen_id: load_public_keyset(member / "hub.pub.json").signing}
    assert (
        thief.public.signing_key_id in follow_chain(pinned, published_keys_of(history_file)).trusted
    )
    forged_packet = tmp_path / "forged.json"
    forged = seal(make_report(), police_keys, thief, recipient_id="fr-police").envelope
    forged_packet.write_text(forged.model_dump_json(), encoding="utf-8")
    by_hand = [
        "open", str(forged_packet), "--keys", str(config.parent / "fr-police.keys.pem"),
        "--passphrase-file", str(setup.passphrase_file), "--hub-keys", str(history_file),
    ]  # fmt: skip
    assert _invoke(connector, *by_hand, "--hub-key", str(member / "hub.pub.json"))[0] == 0

    # 1. The hub stopped (no server runs here), a new key made that the stolen one does not endorse.
    code, said = _invoke(hub, "keys", "replace-stolen-hub")
    assert code == 0, said
    assert f"NOT endorsed by {stolen_id}" in said
    new_id = load_public_keyset(settings.hub_public_key_file).signing_key_id
    # 2. The operator reads the new key's id out to the member.
    assert f"new hub signing key {new_id}" in said

    # 3. The member keeps the old key file aside, puts the new one in place, checks the id in it
    # against the one read out, and deletes its trust file.
    shutil.move(member / "hub.pub.json", member / "hub-stolen.pub.json")
    shutil.copyfile(settings.hub_public_key_file, member / "hub.pub.json")
    assert load_public_keyset(member / "hub.pub.json").signing_key_id == new_id
    (config.parent / "hub-trust.json").unlink(missing_ok=True)

    # 4. The hub restarted with the new key: what it signs now is accepted; the packet signed
    # with the stolen key before the replacement is refused, named; so is the thief's packet.
    after = _test_packet(settings, engine)
    with serving(create_app(settings), port=port):
        code, said = _invoke(connector, "pull", "--config", str(config))
    assert code == 1
    assert f"packet {pending} rejected" in said
    assert (
        f"signed by hub key {stolen_id}, which is not chained from the pinned key {new_id}" in said
    )
    stored = {p.stem for p in (config.parent / "inbox" / "packets").glob("*.json")}
    assert stored == {before, after}
    # The thief's hub publishes the real history (the new key too) and its own key after it.
    history_file.write_text(published_keys(settings).model_dump_json(), encoding="utf-8")
    _thiefs_key_endorsed_by(stolen, history_file, thief)
    code, said = _invoke(connector, *by_hand, "--hub-key", str(member / "hub.pub.json"))
    assert code == 1
    assert f"{thief.public.signing_key_id} is endorsed by {stolen_id}, which is not trusted" in said

    # A packet stored before step 3 opens by hand with the old key file kept aside.
    packet = config.parent / "inbox" / "packets" / f"{before}.json"
    old = [
        "open", str(packet), "--keys", str(config.parent / "fr-police.keys.pem"),
        "--passphrase-file", str(setup.passphrase_file),
    ]  # fmt: skip
    assert _invoke(connector, "open", "--config", str(config), before)[0] == 1
    code, said = _invoke(connector, *old, "--hub-key", str(member / "hub-stolen.pub.json"))
    assert code == 0, said
    assert "TEST PACKET for fr-police" in said
