"""`connector init` on the member's machine: keys stay there, only public halves are sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.config import load_config
from connectors.countries.profiles import load_profiles
from connectors.errors import ConfigInvalid
from connectors.recipient.onboard import init_member
from connectors.recipient.readable import reading_for
from keys import generate_keyset, write_public_keyset
from tests.conftest import ROOT

EXAMPLES = ROOT / "docs" / "examples" / "profiles"


@pytest.fixture
def hub_key(tmp_path: Path) -> Path:
    path = tmp_path / "received" / "hub.pub.json"
    write_public_keyset(generate_keyset(sealing=False).public, path, name="hub")
    return path


def test_init_writes_keys_configs_and_a_registration_of_public_keys_only(
    tmp_path: Path, hub_key: Path
) -> None:
    france = load_profiles([EXAMPLES]).get("FR")
    setup = init_member(
        france, out=tmp_path / "m", hub_url="https://hub.example.org", hub_key_file=hub_key
    )
    assert [r.recipient_id for r in setup.recipients] == ["fr-section", "fr-police"]
    for made in setup.recipients:
        config = load_config(made.config_file)
        assert config.recipient_id == made.recipient_id
        assert config.keys_file.stat().st_mode & 0o077 == 0
        assert config.credential_file == made.credential_file
    registration = json.loads((setup.registration_dir / "registration.json").read_text())
    assert registration["country"] == "FR"
    assert [r["kind"] for r in registration["recipients"]] == ["section", "police"]
    for path in setup.registration_dir.iterdir():
        assert "private_key" not in path.read_text()


def test_init_never_overwrites_keys_it_made_before(tmp_path: Path, hub_key: Path) -> None:
    france = load_profiles([EXAMPLES]).get("FR")
    init_member(france, out=tmp_path / "m", hub_url="https://hub.example.org", hub_key_file=hub_key)
    with pytest.raises(ConfigInvalid, match="already has keys"):
        init_member(
            france, out=tmp_path / "m", hub_url="https://hub.example.org", hub_key_file=hub_key
        )


def test_a_recipient_reads_in_its_profiles_languages_that_have_a_catalogue(tmp_path: Path) -> None:
    text = (EXAMPLES / "fr" / "profile.toml").read_text()
    italian = text.replace('"FR"', '"IT"').replace("fr-", "it-").replace('"fr"', '"it"')
    (tmp_path / "it").mkdir()
    (tmp_path / "it" / "profile.toml").write_text(italian.replace("Europe/Paris", "Europe/Rome"))
    profiles = load_profiles([tmp_path])
    assert reading_for("it-section", profiles).locales == ["en"]  # no Italian catalogue yet
    assert reading_for("it-police", profiles).timezone == "Europe/Rome"
    assert reading_for("be-police", profiles).locales == ["nl", "fr"]
    assert reading_for("somebody-else", profiles).locales == ["en"]


def test_init_writes_a_hub_trust_setting_beside_the_pinned_hub_key(
    tmp_path: Path, hub_key: Path
) -> None:
    france = load_profiles([EXAMPLES]).get("FR")
    setup = init_member(
        france, out=tmp_path / "m", hub_url="https://hub.example.org", hub_key_file=hub_key
    )
    for made in setup.recipients:
        config = load_config(made.config_file)
        assert config.hub_trust_file == made.config_file.parent / "hub-trust.json"
        assert config.hub_public_key_file.resolve() == (tmp_path / "m" / "hub.pub.json").resolve()
