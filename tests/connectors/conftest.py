"""Real keys, real reports and real packets sealed by the hub's own code, for connector tests."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from hub.commitment import commit, new_salt, sign_commitment
from hub.crypto import OpenedPacket, SealedPacket, canonical_bytes, open_packet, seal_packet
from keys import (
    KeySet,
    create_passphrase_file,
    generate_keyset,
    write_keyset,
    write_public_keyset,
)
from schemas.envelope import Envelope
from schemas.report import Report

RECIPIENT_ID = "nl-section"  # the demo's id, as in docs/protocol.md
SEALED_AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
# Markers that must never show up where report content is not allowed.
FREE_TEXT = "Ik zag een man met een meisje in de lift. FREE-TEXT-MARKER"
DESCRIPTION = "A tourist took a child to his hotel room. DESCRIPTION-MARKER"


def report_data(**overrides: Any) -> dict[str, Any]:
    """A fresh, valid anonymous report as JSON-like data, with a new report id."""
    data: dict[str, Any] = {
        "schema_version": 1,
        "report_id": str(uuid4()),
        "source": "portal-nl",
        "submitted_at": "2026-11-01T10:00:00+00:00",
        "reporter": {"kind": "anonymous"},
        "incident": {
            "country": "TH",
            "place": "Pattaya",
            "place_kind": "hotel",
            "date_from": "2026-10-20",
            "description": DESCRIPTION,
        },
        "suspects": [{"nationality": "NL", "approximate_age": 50}],
        "children": {"count": 1, "approximate_ages": [12], "gender": "female"},
        "category": "travel_and_tourism",
        "text_language": "nl",
        "free_text": FREE_TEXT,
    }
    data.update(overrides)
    return data


def make_report(**overrides: Any) -> Report:
    """A validated report."""
    return Report.model_validate(report_data(**overrides))


def seal(
    report: Report,
    recipient: KeySet,
    hub: KeySet,
    *,
    recipient_id: str = RECIPIENT_ID,
) -> SealedPacket:
    """Seal `report` to `recipient` and sign it with `hub`, as the hub's intake does."""
    assert recipient.public.sealing is not None
    return seal_packet(
        report_id=report.report_id,
        canonical=canonical_bytes(report),
        recipient_id=recipient_id,
        recipient_key=recipient.public.sealing,
        hub_key=hub.signing,
        now=SEALED_AT,
    )


def seal_committed(
    report: Report,
    recipient: KeySet,
    hub: KeySet,
    *,
    committed_to: Report | None = None,
    commitment_key: KeySet | None = None,
    sealed_salt: bytes | None = None,
) -> SealedPacket:
    """Seal `report` as intake does, as a version 2 packet with the hub's signed commitment.

    The commitment is to `committed_to` (default: the report), signed by `commitment_key`
    (default: the hub), and the salt sealed beside it is `sealed_salt` (default: the one
    committed with): any of them other than the default makes a packet a recipient must reject.
    """
    assert recipient.public.sealing is not None
    salt = new_salt()
    body = commit(committed_to or report, salt, SEALED_AT)
    commitment = sign_commitment(body, (commitment_key or hub).signing)
    return seal_packet(
        report_id=report.report_id,
        canonical=canonical_bytes(report),
        recipient_id=RECIPIENT_ID,
        recipient_key=recipient.public.sealing,
        hub_key=hub.signing,
        now=SEALED_AT,
        commitment=commitment,
        salt=sealed_salt or salt,
    )


def flip_payload_char(envelope: Envelope) -> Envelope:
    """The envelope with one base64 character of its payload changed (still valid base64)."""
    payload = envelope.payload
    middle = len(payload) // 2
    replacement = "A" if payload[middle] != "A" else "B"
    flipped = payload[:middle] + replacement + payload[middle + 1 :]
    base64.b64decode(flipped, validate=True)  # still decodes: only the signature can catch it
    return envelope.model_copy(update={"payload": flipped})


@dataclass(frozen=True)
class Parties:
    """A recipient's and the hub's keys, also written to key files."""

    recipient: KeySet
    hub: KeySet
    keys_file: Path
    hub_key_file: Path
    passphrase_file: Path

    def open(self, envelope: Envelope) -> OpenedPacket:
        """Open a packet with the recipient's key, trusting the hub's key."""
        assert self.recipient.sealing is not None
        public = self.hub.public
        return open_packet(
            envelope,
            hub_keys={public.signing_key_id: public.signing},
            private=self.recipient.sealing,
        )


@pytest.fixture
def parties(tmp_path: Path) -> Parties:
    """Fresh keys for a recipient and a hub, with their key files on disk."""
    recipient = generate_keyset()
    hub = generate_keyset(sealing=False)
    keys_file = tmp_path / "keys" / "recipient-keys.pem"
    hub_key_file = tmp_path / "keys" / "hub-public-keys.json"
    passphrase_file = tmp_path / "keys" / "passphrase.txt"
    passphrase = create_passphrase_file(passphrase_file)
    write_keyset(recipient, keys_file, name=RECIPIENT_ID, passphrase=passphrase)
    write_public_keyset(hub.public, hub_key_file, name="hub")
    return Parties(
        recipient=recipient,
        hub=hub,
        keys_file=keys_file,
        hub_key_file=hub_key_file,
        passphrase_file=passphrase_file,
    )


@pytest.fixture
def write_packet(tmp_path: Path) -> Callable[[Envelope], Path]:
    """Write an envelope to a packet file, as a recipient would have received it."""

    def write(envelope: Envelope) -> Path:
        path = tmp_path / "packets" / f"{uuid4()}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(envelope.model_dump(mode="json")), encoding="utf-8")
        return path

    return write
