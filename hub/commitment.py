"""Salted, per-field commitments to a report, and the checks a forward's receiver makes offline.

At intake the hub draws a random 32-byte salt for the report and commits to each field:

    field_salt(name) = BLAKE2b-256(key = salt, message = UTF-8 name)
    leaf(name)       = BLAKE2b-256(key = field_salt(name), message = canonical JSON of the value)
    root             = BLAKE2b-256(canonical JSON of {"leaves": {name: leaf}, "report_id": id})

BLAKE2b-256 is libsodium's crypto_generichash with a 32-byte output. The hub signs the leaves and
the root (`CommitmentBody`) and forgets the salt: it travels only sealed to each recipient, so
only a recipient can open a leaf. A forwarder passes each disclosed field with its field salt and
names each withheld one; the receiver recomputes the disclosed leaves and sees the withheld ones
still committed. Every failed check raises PacketInvalid, as every crypto check here does.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import nacl.encoding
import nacl.hash
import nacl.utils
from nacl.signing import SigningKey, VerifyKey
from pydantic import ValidationError

from hub.crypto import OpenedPacket, canonical_json, sign_envelope, verify_envelope
from hub.errors import PacketInvalid
from schemas.commitment import (
    COMMITMENT_TYPE,
    CommitmentBody,
    CommitmentLeaf,
    DisclosedField,
    ForwardOpening,
)
from schemas.envelope import Envelope
from schemas.report import Report

__all__ = [
    "CONTACT_FIELDS",
    "SALT_BYTES",
    "check_disclosure",
    "check_opens",
    "check_packet",
    "commit",
    "commitment_root",
    "disclose",
    "field_salt",
    "leaf_digest",
    "new_salt",
    "report_fields",
    "sign_commitment",
    "verify_commitment",
]

SALT_BYTES = 32
# The reporter's contact details: passed on only where the reporter consented.
CONTACT_FIELDS = frozenset({"reporter.name", "reporter.phone", "reporter.email"})
_NESTED = "reporter"  # its members are leaves of their own, so contact details can be withheld


def _blake2b(message: bytes, key: bytes = b"") -> bytes:
    return nacl.hash.blake2b(message, digest_size=32, key=key, encoder=nacl.encoding.RawEncoder)


def new_salt() -> bytes:
    """A fresh random salt for one report's commitment."""
    return nacl.utils.random(SALT_BYTES)


def field_salt(salt: bytes, name: str) -> bytes:
    """The salt of one field, derived from the report's salt: opens that field and no other."""
    return _blake2b(name.encode("utf-8"), key=salt)


def leaf_digest(salt_of_field: bytes, value: Any) -> str:
    """One field's committed digest, in hex."""
    return _blake2b(canonical_json(value), key=salt_of_field).hex()


def report_fields(report: Report) -> dict[str, Any]:
    """The report's committed fields by name: its top-level members, the reporter's one by one."""
    document = report.model_dump(mode="json")
    fields = {name: value for name, value in document.items() if name != _NESTED}
    for name, value in document[_NESTED].items():
        fields[f"{_NESTED}.{name}"] = value
    return fields


def commitment_root(report_id: str, leaves: Iterable[CommitmentLeaf]) -> str:
    """The root over a report's leaves, in hex."""
    document = {"leaves": {leaf.name: leaf.digest for leaf in leaves}, "report_id": report_id}
    return _blake2b(canonical_json(document)).hex()


def commit(report: Report, salt: bytes, now: datetime) -> CommitmentBody:
    """The commitment to `report` under `salt`, leaves sorted by name."""
    leaves = [
        CommitmentLeaf(name=name, digest=leaf_digest(field_salt(salt, name), value))
        for name, value in sorted(report_fields(report).items())
    ]
    return CommitmentBody(
        report_id=report.report_id,
        leaves=leaves,
        root=commitment_root(str(report.report_id), leaves),
        committed_at=now,
    )


def sign_commitment(body: CommitmentBody, key: SigningKey) -> Envelope:
    """The hub's signed commitment."""
    return sign_envelope(COMMITMENT_TYPE, body, key)


def verify_commitment(envelope: Envelope, hub_keys: Mapping[str, VerifyKey]) -> CommitmentBody:
    """Verify the hub's signature, parse, and check the root is the root of the leaves.

    Raises PacketInvalid.
    """
    payload = verify_envelope(envelope, COMMITMENT_TYPE, hub_keys)
    try:
        body = CommitmentBody.model_validate_json(payload)
    except ValidationError as exc:
        raise PacketInvalid() from exc
    names = [leaf.name for leaf in body.leaves]
    if names != sorted(set(names)):
        raise PacketInvalid()
    if commitment_root(str(body.report_id), body.leaves) != body.root:
        raise PacketInvalid()
    return body


def check_opens(body: CommitmentBody, report: Report, salt: bytes) -> None:
    """Check that `salt` opens the commitment to exactly `report`. Raises PacketInvalid."""
    if body.report_id != report.report_id:
        raise PacketInvalid()
    fields = report_fields(report)
    if sorted(fields) != [leaf.name for leaf in body.leaves]:
        raise PacketInvalid()
    for leaf in body.leaves:
        if leaf_digest(field_salt(salt, leaf.name), fields[leaf.name]) != leaf.digest:
            raise PacketInvalid()


def disclose(
    report: Report, salt: bytes, withheld: Iterable[str]
) -> tuple[list[DisclosedField], list[str]]:
    """The fields passed on, each with its field salt, and the names of those withheld.

    Raises ValueError for a withheld name the report does not have.
    """
    fields = report_fields(report)
    hidden = set(withheld)
    unknown = hidden - fields.keys()
    if unknown:
        raise ValueError(f"no such field to withhold: {', '.join(sorted(unknown))}")
    disclosed = [
        DisclosedField(
            name=name,
            value=value,
            salt=base64.b64encode(field_salt(salt, name)).decode("ascii"),
        )
        for name, value in sorted(fields.items())
        if name not in hidden
    ]
    return disclosed, sorted(hidden)


def check_disclosure(body: CommitmentBody, opening: ForwardOpening) -> None:
    """Check a forward's opening against the hub's commitment.

    Every leaf is either disclosed, with a value and salt that give its digest, or withheld by
    name; nothing else is there; contact details are disclosed only with the reporter's consent
    disclosed too. Raises PacketInvalid.
    """
    if opening.report_id != body.report_id:
        raise PacketInvalid()
    disclosed = {field.name: field for field in opening.disclosed}
    withheld = set(opening.withheld)
    names = [leaf.name for leaf in body.leaves]
    if len(disclosed) != len(opening.disclosed) or len(withheld) != len(opening.withheld):
        raise PacketInvalid()
    if disclosed.keys() & withheld or sorted([*disclosed, *withheld]) != names:
        raise PacketInvalid()
    for leaf in body.leaves:
        field = disclosed.get(leaf.name)
        if field is None:
            continue
        try:
            salt_of_field = base64.b64decode(field.salt, validate=True)
        except ValueError as exc:
            raise PacketInvalid() from exc
        if leaf_digest(salt_of_field, field.value) != leaf.digest:
            raise PacketInvalid()
    consent = disclosed.get("reporter.consent_to_contact")
    shares_contact = any(
        name in disclosed and disclosed[name].value is not None for name in CONTACT_FIELDS
    )
    if shares_contact and (consent is None or consent.value is not True):
        raise PacketInvalid()


def check_packet(opened: OpenedPacket, hub_keys: Mapping[str, VerifyKey]) -> CommitmentBody | None:
    """For a version 2 packet, verify the hub's commitment and that the sealed salt opens it to
    the sealed report; None for a version 1 packet, which has none. Raises PacketInvalid."""
    if opened.body.packet_version == 1:
        return None
    if opened.body.commitment is None or opened.salt is None or len(opened.salt) != SALT_BYTES:
        raise PacketInvalid()
    body = verify_commitment(opened.body.commitment, hub_keys)
    check_opens(body, opened.report, opened.salt)
    return body
