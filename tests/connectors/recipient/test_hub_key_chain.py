"""A connector trusts the hub key it pinned and the keys the published history chains from it,
nothing else (docs/protocol.md §8): with a broken chain it refuses the later keys' packets, names
the broken link and exits 1; `connector open --hub-key` follows the history given with
`--hub-keys`; and the hub trust file is checked again from the pin, never trusted as written."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from connectors.cli.main import app as connector
from connectors.countries.profiles import load_profiles
from connectors.recipient.onboard import MemberSetup, init_member
from hub.http.app import create_app
from hub.http.server import serving
from hub.network.keyring import load_hub_secrets, published_keys, rotate_hub_key
from hub.onboarding.member import read_registration, register_recipients, send_onboarding_packet
from hub.settings import Settings
from keys import load_public_keyset
from tests.conftest import ROOT, Clock, Network
from tests.faults.harness import free_port

EXAMPLES = ROOT / "docs" / "examples" / "profiles"


def _france(settings: Settings, engine: Engine, out: Path, url: str, now: datetime) -> MemberSetup:
    """France onboarded as the documents say, pinning the hub's key of today."""
    setup = init_member(
        load_profiles([EXAMPLES]).get("FR"),
        out=out,
        hub_url=url,
        hub_key_file=settings.hub_public_key_file,
    )
    document, keys = read_registration(setup.registration_dir)
    with Session(engine) as session:
        issued = register_recipients(session, document, keys, now=now)
    for made, token in zip(setup.recipients, issued, strict=True):
        made.credential_file.write_text(token.token + "\n")
    return setup


def _test_packet(settings: Settings, engine: Engine, now: datetime) -> str:
    secrets, _ = load_hub_secrets(settings)
    with Session(engine) as session:
        return send_onboarding_packet(session, "fr-police", secrets=secrets, now=now).packet_id


def _break(document: dict[str, list[dict[str, object]]], key_id: str, how: str) -> None:
    """Take away, or spoil, the endorsement of one key in a published list."""
    (entry,) = [k for k in document["keys"] if k["key_id"] == key_id]
    if how == "missing":
        del entry["endorsement"]
        return
    endorsement = entry["endorsement"]
    assert isinstance(endorsement, dict)
    (signature,) = endorsement["signatures"]
    signature["sig"] = base64.b64encode(bytes(64)).decode("ascii")


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(connector, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("how", "why"),
    [("missing", "is published without an endorsement"),
     ("invalid", "has an endorsement that does not verify")],
)  # fmt: skip
def test_a_broken_chain_leaves_later_keys_untrusted_and_the_pull_exits_1_naming_the_break(
    settings: Settings,
    engine: Engine,
    network: Network,
    tmp_path: Path,
    clock: Clock,
    how: str,
    why: str,
) -> None:
    port = free_port()
    setup = _france(settings, engine, tmp_path / "fr", f"http://127.0.0.1:{port}", clock.now)
    pinned = load_public_keyset(settings.hub_public_key_file).signing_key_id
    middle = rotate_hub_key(settings, datetime.now(UTC)).key_id
    newest = rotate_hub_key(settings, datetime.now(UTC)).key_id
    index = settings.hub_key_file.parent / "hub-keys.json"
    document = json.loads(index.read_text(encoding="utf-8"))
    _break(document, middle, how)  # the published list the connector will fetch
    index.write_text(json.dumps(document), encoding="utf-8")
    _test_packet(settings, engine, clock.now)  # signed by the newest key
    config = setup.recipients[1].config_file
    with serving(create_app(settings), port=port):
        code, output = _invoke("pull", "--config", str(config))
    assert code == 1
    said = " ".join(output.split())
    assert f"signed by hub key {newest}, which is not chained from the pinned key {pinned}" in said
    assert f"{newest} is endorsed by {middle}, which is not trusted" in said
    assert f"the chain breaks where {middle} {why}" in said
    assert not any((config.parent / "inbox" / "packets").glob("*"))
    assert not (config.parent / "hub-trust.json").exists()  # nothing new was trusted


def test_connector_open_with_hub_key_follows_the_published_history_given_with_hub_keys(
    settings: Settings, engine: Engine, network: Network, tmp_path: Path, clock: Clock
) -> None:
    port = free_port()
    setup = _france(settings, engine, tmp_path / "fr", f"http://127.0.0.1:{port}", clock.now)
    rotated = rotate_hub_key(settings, datetime.now(UTC)).key_id
    packet_id = _test_packet(settings, engine, clock.now)  # signed by the rotated key
    config = setup.recipients[1].config_file
    with serving(create_app(settings), port=port):
        assert _invoke("pull", "--config", str(config))[0] == 0
    packet = config.parent / "inbox" / "packets" / f"{packet_id}.json"
    by_hand = [
        "open", str(packet), "--keys", str(config.parent / "fr-police.keys.pem"),
        "--passphrase-file", str(setup.passphrase_file), "--hub-key",
        str(tmp_path / "fr" / "hub.pub.json"), "--locale", "fr",
    ]  # fmt: skip

    # The pinned key alone does not sign this packet: refused, saying what to give.
    code, output = _invoke(*by_hand)
    assert code == 1
    assert f"signed by hub key {rotated}" in output
    assert "--hub-keys" in output

    # With the hub's published history (GET /v1/hub/keys), the rotated key chains from the pin.
    history = tmp_path / "hub-keys.json"
    history.write_text(published_keys(settings).model_dump_json(), encoding="utf-8")
    code, output = _invoke(*by_hand, "--hub-keys", str(history))
    assert code == 0, output
    assert "Signalement CTT" in output

    # A history whose endorsement is missing does not chain: refused, naming the broken link.
    document = json.loads(history.read_text(encoding="utf-8"))
    _break(document, rotated, "missing")
    history.write_text(json.dumps(document), encoding="utf-8")
    code, output = _invoke(*by_hand, "--hub-keys", str(history))
    assert code == 1
    assert f"{rotated} is published without an endorsement" in " ".join(output.split())


def test_a_key_written_into_the_trust_file_by_hand_is_not_trusted_for_readings(
    settings: Settings, engine: Engine, network: Network, tmp_path: Path, clock: Clock
) -> None:
    port = free_port()
    setup = _france(settings, engine, tmp_path / "fr", f"http://127.0.0.1:{port}", clock.now)
    rotated = rotate_hub_key(settings, datetime.now(UTC)).key_id
    packet_id = _test_packet(settings, engine, clock.now)
    config = setup.recipients[1].config_file
    with serving(create_app(settings), port=port):
        assert _invoke("pull", "--config", str(config))[0] == 0
    assert _invoke("open", "--config", str(config), packet_id)[0] == 0

    # Someone who can write the member's folder puts a key there without its endorsement.
    trust = config.parent / "hub-trust.json"
    document = json.loads(trust.read_text(encoding="utf-8"))
    _break(document, rotated, "missing")
    trust.write_text(json.dumps(document), encoding="utf-8")
    code, output = _invoke("open", "--config", str(config), packet_id)
    assert code == 1
    assert f"{rotated} is published without an endorsement" in " ".join(output.split())
    assert "TEST PACKET" not in output
