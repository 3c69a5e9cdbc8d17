"""Key files: encrypted owner-only private keys that OpenSSL reads, self-checking fingerprints,
passphrases only from protected files or systemd credentials, old JSON files still loading, and
the `hub keys` and `connector init` / `connector keys protect` commands."""

from __future__ import annotations

import base64
import json
import re
import stat
import subprocess
from pathlib import Path

import pytest
from nacl.public import SealedBox
from structlog.testing import capture_logs
from typer.testing import CliRunner

from connectors.cli.main import app as connector_app
from connectors.config import key_passphrase, load_config
from connectors.errors import ConfigInvalid
from hub.cli.main import app
from hub.errors import ConfigurationError
from hub.network.keyring import MAC_KEY, WEBHOOK_KEY, create_hub_keys, load_hub_secrets
from hub.network.keyring import PASSPHRASE as PASSPHRASE_NAME
from hub.settings import Settings
from keys import (
    KeyFileError,
    KeySet,
    fingerprint,
    generate_keyset,
    is_legacy_keyset,
    load_keyset,
    load_public_keyset,
    read_passphrase,
    write_keyset,
    write_public_keyset,
)
from tests.conftest import ROOT

PASSPHRASE = b"correct horse battery staple"


def test_private_key_file_is_owner_only_and_round_trips(tmp_path: Path) -> None:
    original = generate_keyset()
    path = tmp_path / "at-police.keys.pem"
    write_keyset(original, path, name="at-police", passphrase=PASSPHRASE)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_keyset(path, PASSPHRASE)
    assert bytes(loaded.signing) == bytes(original.signing)
    assert loaded.sealing is not None
    assert original.sealing is not None
    assert bytes(loaded.sealing) == bytes(original.sealing)
    assert loaded.public.sealing_key_id == original.public.sealing_key_id


def test_the_private_key_file_holds_no_raw_key(tmp_path: Path) -> None:
    keys = generate_keyset()
    path = tmp_path / "k.pem"
    write_keyset(keys, path, name="k", passphrase=PASSPHRASE)
    assert keys.sealing is not None
    data = path.read_bytes()
    for raw in (bytes(keys.sealing), bytes(keys.signing)):
        assert base64.b64encode(raw) not in data
        assert raw not in data


@pytest.mark.parametrize("passphrase", [None, b"wrong passphrase"])
def test_an_encrypted_key_file_does_not_open_without_its_passphrase(
    tmp_path: Path, passphrase: bytes | None
) -> None:
    path = tmp_path / "k.pem"
    write_keyset(generate_keyset(), path, name="k", passphrase=PASSPHRASE)
    with pytest.raises(KeyFileError):
        load_keyset(path, passphrase)


def test_a_key_file_whose_recorded_ids_were_edited_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    write_keyset(generate_keyset(), path, name="k", passphrase=PASSPHRASE)
    other = generate_keyset().public.signing_key_id
    text = re.sub(r"# signing \S+", f"# signing {other}", path.read_text())
    path.write_text(text)
    with pytest.raises(KeyFileError):
        load_keyset(path, PASSPHRASE)


def test_an_existing_private_key_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    write_keyset(generate_keyset(), path, name="k", passphrase=PASSPHRASE)
    with pytest.raises(FileExistsError):
        write_keyset(generate_keyset(), path, name="k", passphrase=PASSPHRASE)


def _openssl_public_raw(block: str, passphrase_file: Path, folder: Path) -> bytes:
    """The raw public key OpenSSL derives from one encrypted PKCS#8 block."""
    key_file = folder / "one-block.pem"
    key_file.write_text(block)
    der = subprocess.run(
        ["openssl", "pkey", "-in", str(key_file), "-passin", f"file:{passphrase_file}",
         "-pubout", "-outform", "DER"],
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout  # fmt: skip
    return der[-32:]  # an X25519 or Ed25519 SubjectPublicKeyInfo ends with the raw key


def test_connector_init_writes_encrypted_pkcs8_that_openssl_reads_with_the_passphrase(
    tmp_path: Path,
) -> None:
    hub_key = tmp_path / "hub.pub.json"
    write_public_keyset(generate_keyset(sealing=False).public, hub_key, name="hub")
    out = tmp_path / "member"
    result = CliRunner().invoke(
        connector_app,
        ["init", "--country", "NL", "--out", str(out), "--hub-url", "https://hub.example.org",
         "--hub-key", str(hub_key)],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    passphrase_file = out / "passphrase.txt"
    assert stat.S_IMODE(passphrase_file.stat().st_mode) == 0o600
    public = load_public_keyset(out / "registration" / "nl-police.pub.json")
    text = (out / "nl-police" / "nl-police.keys.pem").read_text()
    blocks = re.findall(
        r"-----BEGIN ENCRYPTED PRIVATE KEY-----\n.*?-----END ENCRYPTED PRIVATE KEY-----\n",
        text,
        flags=re.DOTALL,
    )
    assert len(blocks) == 2
    sealing_raw = _openssl_public_raw(blocks[0], passphrase_file, tmp_path)
    signing_raw = _openssl_public_raw(blocks[1], passphrase_file, tmp_path)
    assert fingerprint("x25519", sealing_raw) == public.sealing_key_id
    assert fingerprint("ed25519", signing_raw) == public.signing_key_id
    refused = subprocess.run(
        ["openssl", "pkey", "-in", str(out / "nl-police" / "nl-police.keys.pem"),
         "-passin", "pass:not-the-passphrase", "-noout"],
        capture_output=True,
        check=False,
        timeout=30,
    )  # fmt: skip
    assert refused.returncode != 0
    config = load_config(out / "nl-police" / "connector.json")
    keys = load_keyset(config.keys_file, key_passphrase(config))
    assert keys.public.sealing_key_id == public.sealing_key_id


def _config_with_passphrase(tmp_path: Path, **extra: str) -> Path:
    config = {
        "hub_url": "https://hub.example.org",
        "recipient_id": "nl-police",
        "credential_file": "credential.txt",
        "keys_file": "nl-police.keys.pem",
        "hub_public_key_file": "hub.pub.json",
        "store_dir": "inbox",
        **extra,
    }
    path = tmp_path / "connector.json"
    path.write_text(json.dumps(config))
    return path


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_a_passphrase_file_others_may_read_is_refused_in_one_line(
    tmp_path: Path, mode: int
) -> None:
    secret = tmp_path / "passphrase.txt"
    secret.write_bytes(PASSPHRASE + b"\n")
    secret.chmod(mode)
    config = load_config(_config_with_passphrase(tmp_path, passphrase_file="passphrase.txt"))
    with pytest.raises(ConfigInvalid, match="group or others may read it") as refused:
        key_passphrase(config)
    assert "\n" not in str(refused.value)
    assert PASSPHRASE.decode() not in str(refused.value)


def test_the_passphrase_comes_from_a_systemd_credential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    (credentials / "connector-passphrase").write_bytes(PASSPHRASE)
    (credentials / "connector-passphrase").chmod(0o400)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    config = load_config(
        _config_with_passphrase(tmp_path, passphrase_credential="connector-passphrase")
    )
    assert key_passphrase(config) == PASSPHRASE


def test_a_credential_without_credentials_directory_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    config = load_config(
        _config_with_passphrase(tmp_path, passphrase_credential="connector-passphrase")
    )
    with pytest.raises(ConfigInvalid, match="LoadCredential"):
        key_passphrase(config)


def _legacy_file(keys: KeySet, path: Path) -> None:
    """A private key file as written before keys were encrypted: base64 in JSON."""
    assert keys.sealing is not None
    public = keys.public
    assert public.sealing is not None

    def entry(key_id: str, public_raw: bytes, private_raw: bytes) -> dict[str, str]:
        return {
            "key_id": key_id,
            "public_key": base64.b64encode(public_raw).decode(),
            "private_key": base64.b64encode(private_raw).decode(),
        }

    document = {
        "format": "ctt-hub-private-keys/1",
        "name": "nl-police",
        "sealing": entry(public.sealing_key_id, bytes(public.sealing), bytes(keys.sealing)),
        "signing": entry(public.signing_key_id, bytes(public.signing), bytes(keys.signing)),
    }
    path.write_text(json.dumps(document))
    path.chmod(0o600)


def test_an_old_json_key_file_still_loads_with_a_warning(tmp_path: Path) -> None:
    keys = generate_keyset()
    path = tmp_path / "nl-police.keys.json"
    _legacy_file(keys, path)
    with capture_logs() as logs:
        loaded = load_keyset(path)
    assert loaded.public.signing_key_id == keys.public.signing_key_id
    assert [entry["event"] for entry in logs] == ["key_file_unprotected"]
    assert "private_key" not in json.dumps(logs)
    # Its sealing key opens what was sealed to it: a recipient's old file still reads packets.
    assert loaded.sealing is not None
    assert keys.public.sealing is not None
    sealed = SealedBox(keys.public.sealing).encrypt(b"a packet's content")
    assert SealedBox(loaded.sealing).decrypt(sealed) == b"a packet's content"


def test_an_old_json_key_file_whose_sealing_key_is_not_its_own_is_refused(
    tmp_path: Path,
) -> None:
    keys, other = generate_keyset(), generate_keyset()
    assert other.sealing is not None
    path = tmp_path / "nl-police.keys.json"
    _legacy_file(keys, path)
    document = json.loads(path.read_text())
    document["sealing"]["private_key"] = base64.b64encode(bytes(other.sealing)).decode()
    path.write_text(json.dumps(document))
    with pytest.raises(KeyFileError, match="sealing private key does not match"):
        load_keyset(path)


def test_connector_keys_protect_converts_an_old_json_key_file(tmp_path: Path) -> None:
    keys = generate_keyset()
    _legacy_file(keys, tmp_path / "nl-police.keys.pem")
    config = _config_with_passphrase(tmp_path)
    secret = tmp_path / "secrets" / "passphrase.txt"
    result = CliRunner().invoke(
        connector_app,
        ["keys", "protect", "--config", str(config), "--passphrase-file", str(secret)],
    )
    assert result.exit_code == 0, result.stderr
    assert "1 key file(s) encrypted" in result.stdout
    converted = tmp_path / "nl-police.keys.pem"
    assert stat.S_IMODE(converted.stat().st_mode) == 0o600
    assert converted.read_bytes().startswith(b"# ctt-hub-private-keys/2")
    settings = load_config(config)
    assert settings.passphrase_file == secret.resolve()
    loaded = load_keyset(converted, read_passphrase(secret))
    assert bytes(loaded.signing) == bytes(keys.signing)
    again = CliRunner().invoke(connector_app, ["keys", "protect", "--config", str(config)])
    assert again.exit_code == 0, again.stderr
    assert "0 key file(s) encrypted" in again.stdout


def test_the_deploy_units_pass_the_passphrase_as_a_credential() -> None:
    for unit in ("ctt-connector-pull@.service", "ctt-connector-receiver.service"):
        text = (ROOT / "deploy" / "systemd" / unit).read_text()
        assert "LoadCredential=connector-passphrase:" in text, unit
        environment = [line for line in text.splitlines() if line.startswith("Environment")]
        assert not any("passphrase" in line.lower() for line in environment), unit
    hub = (ROOT / "deploy" / "systemd" / "ctt-hub@.service").read_text()
    for name in ("hub-passphrase", "content-mac.key", "webhook-secrets.key"):
        assert f"LoadCredential={name}:" in hub, name


def test_a_public_key_whose_id_does_not_match_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.pub.json"
    write_public_keyset(generate_keyset().public, path, name="k")
    document = json.loads(path.read_text())
    document["signing"]["public_key"] = document["sealing"]["public_key"]
    path.write_text(json.dumps(document))
    with pytest.raises(KeyFileError):
        load_public_keyset(path)


def test_a_public_file_is_not_accepted_as_a_private_one(tmp_path: Path) -> None:
    path = tmp_path / "k.pub.json"
    write_public_keyset(generate_keyset().public, path, name="k")
    with pytest.raises(KeyFileError):
        load_keyset(path)


def test_hub_keys_new_writes_both_files_and_prints_fingerprints(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["keys", "new", "be-police", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    public = load_public_keyset(tmp_path / "be-police.pub.json")
    assert public.sealing_key_id in result.output
    assert public.signing_key_id in result.output
    private = tmp_path / "be-police.keys.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    passphrase = read_passphrase(tmp_path / "be-police.passphrase")
    assert load_keyset(private, passphrase).public.signing_key_id == public.signing_key_id


def test_the_hubs_secrets_are_protected_files_or_systemd_credentials(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert settings.hub_key_file.read_bytes().startswith(b"# ctt-hub-private-keys/2")
    before = load_hub_secrets(settings)[0]
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    for name in (PASSPHRASE_NAME, MAC_KEY, WEBHOOK_KEY):
        (settings.hub_key_file.parent / name).rename(credentials / name)
    with pytest.raises(ConfigurationError):
        load_hub_secrets(settings)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    after = load_hub_secrets(settings)[0]
    assert bytes(after.signing_key) == bytes(before.signing_key)
    assert after.mac_key == before.mac_key
    (credentials / MAC_KEY).chmod(0o644)
    with pytest.raises(ConfigurationError, match="group or others may read it"):
        load_hub_secrets(settings)


def test_hub_init_encrypts_an_old_json_signing_key(settings: Settings) -> None:
    keys = load_hub_secrets(settings)[0].signing_key
    settings.hub_key_file.unlink()
    legacy = KeySet(sealing=None, signing=keys)
    document = {
        "format": "ctt-hub-private-keys/1",
        "name": "hub",
        "signing": {
            "key_id": legacy.public.signing_key_id,
            "public_key": base64.b64encode(bytes(legacy.public.signing)).decode(),
            "private_key": base64.b64encode(bytes(keys)).decode(),
        },
    }
    settings.legacy_hub_key_file.write_text(json.dumps(document))
    assert create_hub_keys(settings) is False
    assert not settings.legacy_hub_key_file.exists()
    assert bytes(load_hub_secrets(settings)[0].signing_key) == bytes(keys)


def test_a_private_key_file_in_a_new_folder_gets_an_owner_only_folder_and_its_name(
    tmp_path: Path,
) -> None:
    path = tmp_path / "new" / "keys" / "at-police.keys.pem"
    write_keyset(generate_keyset(), path, name="at-police", passphrase=PASSPHRASE)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_text().splitlines()[0].endswith(" name=at-police")


def test_a_private_key_file_is_its_id_lines_then_its_encrypted_pkcs8_blocks_and_nothing_else(
    tmp_path: Path,
) -> None:
    path = tmp_path / "k.pem"
    write_keyset(generate_keyset(), path, name="k", passphrase=PASSPHRASE)
    block = (
        r"-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
        r"[A-Za-z0-9+/=\n]+"
        r"-----END ENCRYPTED PRIVATE KEY-----\n"
    )
    assert re.fullmatch(rf"(#[^\n]*\n){{3}}({block}){{2}}", path.read_text()), path.read_text()


def test_a_private_key_file_with_a_repeated_sealing_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    write_keyset(generate_keyset(), path, name="k", passphrase=PASSPHRASE)
    text = path.read_text()
    sealing = re.findall(r"-----BEGIN.*?-----END[^\n]*\n", text, re.DOTALL)[0]
    path.write_text(text.replace(sealing, sealing + sealing, 1))
    with pytest.raises(KeyFileError, match="an unexpected or repeated key"):
        load_keyset(path, PASSPHRASE)


def test_a_refused_key_file_is_named_and_a_missing_passphrase_says_where_to_give_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "k.pem"
    write_keyset(generate_keyset(), path, name="k", passphrase=PASSPHRASE)
    with pytest.raises(KeyFileError) as missing:
        load_keyset(path)
    assert str(missing.value) == (
        f"{path}: the keys are encrypted and no passphrase was given "
        "(passphrase_file or passphrase_credential)"
    )
    with pytest.raises(KeyFileError) as wrong:
        load_keyset(path, b"wrong passphrase")
    assert str(wrong.value) == f"{path}: wrong passphrase or damaged key file"


def test_the_hubs_own_key_set_has_no_sealing_key_and_its_public_file_no_empty_members(
    tmp_path: Path,
) -> None:
    keys = generate_keyset(sealing=False)
    assert keys.sealing is None
    path = tmp_path / "new" / "keys" / "hub.public.json"
    write_public_keyset(keys.public, path, name="hub")
    text = path.read_text()
    assert text == json.dumps(json.loads(text), indent=2) + "\n"
    assert set(json.loads(text)) == {"format", "name", "signing"}
    assert set(json.loads(text)["signing"]) == {"key_id", "public_key"}
    assert load_public_keyset(path).signing_key_id == keys.public.signing_key_id


def test_an_old_json_key_file_with_leading_blank_lines_is_still_read_as_one(
    tmp_path: Path,
) -> None:
    keys = generate_keyset()
    path = tmp_path / "nl-police.keys.json"
    _legacy_file(keys, path)
    path.write_text("\n\n" + path.read_text())
    assert is_legacy_keyset(path)
    assert load_keyset(path).public.signing_key_id == keys.public.signing_key_id


def test_an_old_json_key_file_with_characters_outside_base64_is_refused_not_cleaned(
    tmp_path: Path,
) -> None:
    path = tmp_path / "nl-police.keys.json"
    _legacy_file(generate_keyset(), path)
    document = json.loads(path.read_text())
    document["signing"]["private_key"] = "!" + document["signing"]["private_key"]
    path.write_text(json.dumps(document))
    with pytest.raises(KeyFileError, match="malformed key material"):
        load_keyset(path)
