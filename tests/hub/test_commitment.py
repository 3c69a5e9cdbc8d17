"""The per-field commitment: it opens with its salt to the report and to no other, every field of
a forward's opening is checked against it, and its bytes follow docs/protocol.md, section 7."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from nacl.signing import SigningKey

from hub.commitment import (
    CONTACT_FIELDS,
    check_disclosure,
    check_opens,
    commit,
    disclose,
    sign_commitment,
    verify_commitment,
)
from hub.errors import PacketInvalid
from keys import fingerprint
from schemas.commitment import DisclosedField, ForwardAdditions, ForwardOpening
from schemas.envelope import Envelope
from schemas.report import Report
from tests.connectors.conftest import make_report

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
SALT = bytes(range(32))
CONTACT = {
    "kind": "contact",
    "name": "Jan Peeters",
    "email": "jan@example.be",
    "consent_to_contact": True,
    "preferred_language": "nl",
}


def _opening(
    disclosed: list[DisclosedField], withheld: list[str], report_id: Any
) -> ForwardOpening:
    return ForwardOpening(
        report_id=report_id, disclosed=disclosed, withheld=withheld, additions=ForwardAdditions()
    )


def test_a_commitment_follows_the_documented_byte_layout_with_plain_hashlib() -> None:
    report = make_report(reporter=CONTACT)
    body = commit(report, SALT, NOW)
    document = report.model_dump(mode="json")
    fields = {k: v for k, v in document.items() if k != "reporter"}
    fields |= {f"reporter.{k}": v for k, v in document["reporter"].items()}
    leaves = {}
    for name, value in fields.items():
        key = hashlib.blake2b(name.encode(), key=SALT, digest_size=32).digest()
        canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        leaves[name] = hashlib.blake2b(canonical.encode(), key=key, digest_size=32).hexdigest()
    assert {leaf.name: leaf.digest for leaf in body.leaves} == leaves
    assert [leaf.name for leaf in body.leaves] == sorted(leaves)
    root_document = {"leaves": leaves, "report_id": str(report.report_id)}
    canonical_root = json.dumps(root_document, sort_keys=True, separators=(",", ":")).encode()
    assert body.root == hashlib.blake2b(canonical_root, digest_size=32).hexdigest()


def test_a_commitment_opens_with_its_salt_to_the_report_and_to_no_other() -> None:
    report = make_report()
    body = commit(report, SALT, NOW)
    check_opens(body, report, SALT)
    changed = report.model_copy(
        update={"incident": report.incident.model_copy(update={"place": "Phuket"})}
    )
    with pytest.raises(PacketInvalid):
        check_opens(body, changed, SALT)
    with pytest.raises(PacketInvalid):
        check_opens(body, report, bytes(32))


def test_the_signed_commitment_verifies_and_a_flipped_byte_anywhere_fails() -> None:
    key = SigningKey(bytes(32))
    trusted = {fingerprint("ed25519", bytes(key.verify_key)): key.verify_key}
    envelope = sign_commitment(commit(make_report(), SALT, NOW), key)
    assert verify_commitment(envelope, trusted).leaves
    payload = bytearray(base64.b64decode(envelope.payload))
    for index in range(0, len(payload), 97):
        flipped = bytearray(payload)
        flipped[index] ^= 0x01
        spoilt = Envelope(
            payload=base64.b64encode(bytes(flipped)).decode(),
            payload_type=envelope.payload_type,
            signatures=envelope.signatures,
        )
        with pytest.raises(PacketInvalid):
            verify_commitment(spoilt, trusted)


def test_a_full_disclosure_and_one_withholding_contact_details_both_verify() -> None:
    report = make_report(reporter=CONTACT)
    body = commit(report, SALT, NOW)
    disclosed, withheld = disclose(report, SALT, [])
    check_disclosure(body, _opening(disclosed, withheld, report.report_id))
    disclosed, withheld = disclose(report, SALT, CONTACT_FIELDS)
    assert withheld == sorted(CONTACT_FIELDS)
    assert not {d.name for d in disclosed} & CONTACT_FIELDS
    check_disclosure(body, _opening(disclosed, withheld, report.report_id))


def _tampered(report: Report, kind: str) -> tuple[list[DisclosedField], list[str]]:
    disclosed, withheld = disclose(report, SALT, [])
    by_name = {d.name: d for d in disclosed}
    if kind == "changed value":
        by_name["free_text"] = by_name["free_text"].model_copy(update={"value": "other words"})
    elif kind == "dropped field":
        del by_name["suspects"]
    elif kind == "wrong salt":
        by_name["category"] = by_name["category"].model_copy(
            update={"salt": base64.b64encode(bytes(32)).decode()}
        )
    elif kind == "added field":
        by_name["incident.victim"] = by_name["category"].model_copy(
            update={"name": "incident.victim"}
        )
    elif kind == "disclosed and withheld":
        withheld = ["free_text"]
    elif kind == "contact without consent":
        del by_name["reporter.consent_to_contact"]
        withheld = ["reporter.consent_to_contact"]
    return list(by_name.values()), withheld


@pytest.mark.parametrize(
    "kind",
    [
        "changed value",
        "dropped field",
        "wrong salt",
        "added field",
        "disclosed and withheld",
        "contact without consent",
    ],
)
def test_an_opening_that_is_not_exactly_the_committed_report_is_refused(kind: str) -> None:
    report = make_report(reporter=CONTACT)
    body = commit(report, SALT, NOW)
    disclosed, withheld = disclose(report, SALT, [])
    check_disclosure(body, _opening(disclosed, withheld, report.report_id))  # untouched, it holds
    disclosed, withheld = _tampered(report, kind)
    with pytest.raises(PacketInvalid):
        check_disclosure(body, _opening(disclosed, withheld, report.report_id))
