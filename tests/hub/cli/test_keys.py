"""Key files: owner-only private keys, self-checking fingerprints, the `hub keys` command."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.cli.main import app
from keys import (
    KeyFileError,
    generate_keyset,
    load_keyset,
    load_public_keyset,
    write_keyset,
    write_public_keyset,
)


def test_private_key_file_is_owner_only_and_round_trips(tmp_path: Path) -> None:
    original = generate_keyset()
    path = tmp_path / "at-police.keys.json"
    write_keyset(original, path, name="at-police")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_keyset(path)
    assert bytes(loaded.signing) == bytes(original.signing)
    assert loaded.public.sealing_key_id == original.public.sealing_key_id


def test_an_existing_private_key_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    write_keyset(generate_keyset(), path, name="k")
    with pytest.raises(FileExistsError):
        write_keyset(generate_keyset(), path, name="k")


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
    private = tmp_path / "be-police.keys.json"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert load_keyset(private).public.signing_key_id == public.signing_key_id
