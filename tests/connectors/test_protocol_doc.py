"""docs/protocol.md's worked example, run as written against packets sealed by the hub's code."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hub.commitment import check_packet
from hub.crypto import SealedPacket, verify_receipt
from hub.errors import PacketInvalid
from keys import generate_keyset
from schemas.envelope import Envelope
from schemas.report import Report

from .conftest import (
    RECIPIENT_ID,
    Parties,
    flip_payload_char,
    make_report,
    seal,
    seal_committed,
)

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
MARKER = "<!-- protocol-example -->"
# What the example may import: one libsodium binding and the standard library, no project code.
ALLOWED_IMPORTS = {"base64", "datetime", "hashlib", "json", "sys", "nacl", "cryptography"}


def _example() -> str:
    text = PROTOCOL.read_text(encoding="utf-8")
    found = re.search(re.escape(MARKER) + r"\s*```python\n(.*?)\n```", text, re.DOTALL)
    assert found is not None, f"{PROTOCOL} has no python block after {MARKER}"
    return found.group(1)


def _constant(code: str, name: str) -> str:
    for node in ast.parse(code).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            assert isinstance(value, str)
            return value
    raise AssertionError(f"the example defines no {name}")


def _run_example(
    parties: Parties, packet: SealedPacket, folder: Path
) -> subprocess.CompletedProcess[str]:
    code = _example()
    folder.mkdir()
    (folder / "example.py").write_text(code, encoding="utf-8")
    (folder / _constant(code, "HUB_KEY_FILE")).write_bytes(parties.hub_key_file.read_bytes())
    (folder / _constant(code, "KEYS_FILE")).write_bytes(parties.keys_file.read_bytes())
    (folder / _constant(code, "PASSPHRASE_FILE")).write_bytes(parties.passphrase_file.read_bytes())
    (folder / _constant(code, "PACKET_FILE")).write_text(
        json.dumps(packet.envelope.model_dump(mode="json")), encoding="utf-8"
    )
    return subprocess.run(
        [sys.executable, "-I", "example.py"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_example_imports_only_pynacl_cryptography_and_the_standard_library() -> None:
    imported: set[str] = set()
    for node in ast.walk(ast.parse(_example())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= ALLOWED_IMPORTS


def test_the_example_names_the_recipient_the_tests_seal_to() -> None:
    assert _constant(_example(), "MY_RECIPIENT_ID") == RECIPIENT_ID


@pytest.mark.parametrize("version", [1, 2])
def test_the_example_opens_a_packet_and_signs_a_receipt_the_hub_accepts(
    parties: Parties, tmp_path: Path, version: int
) -> None:
    report = make_report()
    if version == 1:
        packet = seal(report, parties.recipient, parties.hub)
    else:
        packet = seal_committed(report, parties.recipient, parties.hub)
    result = _run_example(parties, packet, tmp_path / "example")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert Report.model_validate(printed["report"]) == report
    signing = parties.recipient.public
    receipt = verify_receipt(
        Envelope.model_validate(printed["receipt"]), {signing.signing_key_id: signing.signing}
    )
    assert receipt.packet_id == packet.packet_id
    assert receipt.recipient_id == RECIPIENT_ID
    assert receipt.sealed_sha256 == packet.sealed_sha256


@pytest.mark.parametrize("bad", ["flipped", "other-hub", "other-recipient"])
def test_the_example_rejects_what_the_connector_rejects(
    parties: Parties, tmp_path: Path, bad: str
) -> None:
    report = make_report()
    if bad == "other-hub":
        packet = seal(report, parties.recipient, generate_keyset(sealing=False))
    elif bad == "other-recipient":
        packet = seal(report, generate_keyset(), parties.hub)
    else:
        good = seal(report, parties.recipient, parties.hub)
        packet = SealedPacket(
            packet_id=good.packet_id,
            envelope=flip_payload_char(good.envelope),
            sealed_sha256=good.sealed_sha256,
        )
    result = _run_example(parties, packet, tmp_path / "example")
    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.strip() == "packet rejected"


@pytest.mark.parametrize("bad", ["another report", "another signer", "another salt"])
def test_the_example_rejects_a_version_2_packet_whose_commitment_does_not_open_to_its_report(
    parties: Parties, tmp_path: Path, bad: str
) -> None:
    report = make_report()
    if bad == "another report":
        altered = report.model_copy(update={"free_text": "words the reporter never wrote"})
        packet = seal_committed(report, parties.recipient, parties.hub, committed_to=altered)
    elif bad == "another signer":
        packet = seal_committed(
            report, parties.recipient, parties.hub, commitment_key=generate_keyset(sealing=False)
        )
    else:
        packet = seal_committed(report, parties.recipient, parties.hub, sealed_salt=b"\x07" * 32)
    hub_trust = {parties.hub.public.signing_key_id: parties.hub.public.signing}
    with pytest.raises(PacketInvalid):  # as the connector does
        check_packet(parties.open(packet.envelope), hub_trust)
    result = _run_example(parties, packet, tmp_path / "example")
    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.strip() == "packet rejected"
