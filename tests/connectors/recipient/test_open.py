"""`connector open` prints a good packet's report, and rejects any other without showing content."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.cli.main import REJECTED, app
from keys import generate_keyset, read_passphrase, write_keyset
from schemas.envelope import Envelope
from schemas.report import Report
from tests.connectors.conftest import (
    DESCRIPTION,
    FREE_TEXT,
    Parties,
    flip_payload_char,
    make_report,
    seal,
)

WritePacket = Callable[[Envelope], Path]


@dataclass(frozen=True)
class Outcome:
    """What the command did: exit code and both output streams."""

    exit_code: int
    stdout: str
    stderr: str


def _run(parties: Parties, packet: Path, *options: str, keys: Path | None = None) -> Outcome:
    result = CliRunner().invoke(
        app,
        [
            "open",
            str(packet),
            "--keys",
            str(keys or parties.keys_file),
            "--hub-key",
            str(parties.hub_key_file),
            "--passphrase-file",
            str(parties.passphrase_file),
            *options,
        ],
    )
    return Outcome(result.exit_code, result.stdout, result.stderr)


def test_a_good_packet_opens_as_json(parties: Parties, write_packet: WritePacket) -> None:
    report = make_report()
    outcome = _run(
        parties,
        write_packet(seal(report, parties.recipient, parties.hub).envelope),
        "--format",
        "json",
    )
    assert outcome.exit_code == 0, outcome.stderr
    assert Report.model_validate_json(outcome.stdout) == report


@pytest.mark.parametrize(("output", "marker"), [("text", "Evidence"), ("html", "<!DOCTYPE html>")])
def test_a_good_packet_opens_as_a_readable_rendering(
    parties: Parties, write_packet: WritePacket, output: str, marker: str
) -> None:
    sealed = seal(make_report(), parties.recipient, parties.hub)
    outcome = _run(parties, write_packet(sealed.envelope), "--format", output)
    assert outcome.exit_code == 0, outcome.stderr
    assert marker in outcome.stdout
    assert str(sealed.packet_id) in outcome.stdout
    assert sealed.sealed_sha256 in outcome.stdout
    assert FREE_TEXT in outcome.stdout


def test_text_is_the_default_format(parties: Parties, write_packet: WritePacket) -> None:
    sealed = seal(make_report(), parties.recipient, parties.hub)
    outcome = _run(parties, write_packet(sealed.envelope))
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stdout.startswith("CTT report ")


def _flipped(parties: Parties) -> Envelope:
    return flip_payload_char(seal(make_report(), parties.recipient, parties.hub).envelope)


def _signed_by_another_hub(parties: Parties) -> Envelope:
    return seal(make_report(), parties.recipient, generate_keyset(sealing=False)).envelope


def _sealed_to_another_recipient(parties: Parties) -> Envelope:
    return seal(make_report(), generate_keyset(), parties.hub).envelope


def _wrong_type(parties: Parties) -> Envelope:
    envelope = seal(make_report(), parties.recipient, parties.hub).envelope
    return envelope.model_copy(update={"payload_type": "application/json"})


@pytest.mark.parametrize(
    "tamper",
    [_flipped, _signed_by_another_hub, _sealed_to_another_recipient, _wrong_type],
    ids=["flipped-payload-char", "other-hub-key", "other-recipient", "wrong-payload-type"],
)
@pytest.mark.parametrize("output", ["json", "text", "html"])
def test_a_bad_packet_is_rejected_without_showing_content(
    parties: Parties,
    write_packet: WritePacket,
    tamper: Callable[[Parties], Envelope],
    output: str,
) -> None:
    outcome = _run(parties, write_packet(tamper(parties)), "--format", output)
    assert outcome.exit_code == 1
    # A hub key not chained from the pin is named after it (tests/.../test_hub_key_chain.py).
    assert outcome.stderr.strip().startswith(REJECTED)
    if tamper is not _signed_by_another_hub:
        assert outcome.stderr.strip() == REJECTED
    assert outcome.stdout == ""
    assert FREE_TEXT not in outcome.stderr
    assert DESCRIPTION not in outcome.stderr


@pytest.mark.parametrize("content", ["", "not json", '{"payload": "", "signatures": []}'])
def test_a_file_that_is_not_a_packet_is_rejected(
    parties: Parties, tmp_path: Path, content: str
) -> None:
    packet = tmp_path / "packet.json"
    packet.write_text(content, encoding="utf-8")
    outcome = _run(parties, packet)
    assert outcome.exit_code == 1
    assert outcome.stderr.strip() == REJECTED


def test_a_missing_packet_file_is_rejected(parties: Parties, tmp_path: Path) -> None:
    outcome = _run(parties, tmp_path / "absent.json")
    assert outcome.exit_code == 1
    assert outcome.stderr.strip() == REJECTED


def test_a_key_file_without_a_sealing_key_fails_with_one_line(
    parties: Parties, write_packet: WritePacket, tmp_path: Path
) -> None:
    signing_only = tmp_path / "signing-only.pem"
    passphrase = read_passphrase(parties.passphrase_file)
    write_keyset(
        generate_keyset(sealing=False), signing_only, name="police-th", passphrase=passphrase
    )
    sealed = seal(make_report(), parties.recipient, parties.hub)
    outcome = _run(parties, write_packet(sealed.envelope), keys=signing_only)
    assert outcome.exit_code == 1
    assert outcome.stderr.startswith("connector: ")
    assert "no sealing key" in outcome.stderr
    assert len(outcome.stderr.strip().splitlines()) == 1
    assert outcome.stdout == ""
