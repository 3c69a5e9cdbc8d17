"""What the audit entries of an evidence bundle show, checked against the rest of it: entries in
the signed tree head, packets sealed as logged, receipts as logged and signed by logged keys,
forwards and deletions as logged (docs/protocol.md, section 9.3, steps 3, 5 and 6)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from nacl.signing import VerifyKey
from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from connectors.errors import EvidenceInvalid
from connectors.recipient.evidence_keys import HubKeyValidity, hub_signed, instant
from hub import merkle
from hub.crypto import sealed_digest, verify_envelope, verify_receipt
from hub.errors import PacketInvalid, ProofInvalid
from keys import fingerprint
from schemas.commitment import FORWARD_TYPE
from schemas.envelope import PACKET_TYPE, Envelope, PacketBody, ReceiptBody, TreeHeadBody
from schemas.evidence import EvidenceBundle, EvidencePacket

__all__ = [
    "LoggedEntry",
    "RecipientKey",
    "check_forwards",
    "check_packet_and_receipt",
    "included_entries",
    "of_kind",
    "payload_sha256",
    "receipt_keys_of",
]


class LoggedEntry(BaseModel):
    """An audit entry's text, parsed (docs/audit.md): its own index, time, kind and event."""

    model_config = ConfigDict(extra="forbid")

    v: Literal[1]
    index: int
    at: AwareDatetime
    kind: str
    event: dict[str, Any]


# 3. Audit entries in the signed tree head


def _about_the_report(entry: LoggedEntry, bundle: EvidenceBundle, source: str) -> bool:
    """Every event names the report by the hub's key (`report_key`, else `report_id`), except
    `report_routed`, which names it as its source does: `report_id` and `source_id`."""
    about = entry.event.get("report_id")
    if entry.kind == "report_routed":
        return about == str(bundle.report_id) and entry.event.get("source_id") in {None, source}
    return about is None or about == str(bundle.report_key or bundle.report_id)


def included_entries(
    bundle: EvidenceBundle, head: TreeHeadBody, source: str
) -> dict[int, LoggedEntry]:
    """3. The bundle's entries by index, each proven leaf `leaf_index` of the signed tree head,
    saying it is that entry, and about no other report (`source` sent it). Raises
    EvidenceInvalid."""
    found: dict[int, LoggedEntry] = {}
    root = bytes.fromhex(head.root_hash)
    for item in bundle.entries:
        where = f"audit entry {item.leaf_index}"
        if item.leaf_index in found:
            raise EvidenceInvalid(f"{where} appears twice")
        data = item.entry.encode("utf-8")
        try:
            merkle.verify_inclusion(
                item.leaf_index,
                head.tree_size,
                merkle.leaf_hash(data),
                [bytes.fromhex(h) for h in item.audit_path],
                root,
            )
        except ProofInvalid as exc:
            raise EvidenceInvalid(
                f"{where}: its inclusion proof does not reach the signed tree head "
                f"(size {head.tree_size}, root {head.root_hash[:16]}...): {exc}"
            ) from exc
        try:
            parsed = LoggedEntry.model_validate_json(data)
        except ValidationError as exc:
            raise EvidenceInvalid(f"{where}: not an audit entry") from exc
        if parsed.index != item.leaf_index:
            raise EvidenceInvalid(f"{where}: says it is entry {parsed.index}")
        if not _about_the_report(parsed, bundle, source):
            raise EvidenceInvalid(f"{where} ({parsed.kind}) is about another report")
        found[item.leaf_index] = parsed
    return found


def of_kind(
    entries: Mapping[int, LoggedEntry], kind: str, **match: str
) -> list[tuple[int, LoggedEntry]]:
    """The entries of one kind whose event has the given members, in index order."""
    return [
        (index, e)
        for index, e in sorted(entries.items())
        if e.kind == kind and all(e.event.get(k) == v for k, v in match.items())
    ]


def payload_sha256(envelope: Envelope) -> str:
    """SHA-256 of an envelope's payload bytes, in hex: what the log records of a signed body."""
    return hashlib.sha256(base64.b64decode(envelope.payload)).hexdigest()


# 5. Packets and receipts


@dataclass(frozen=True)
class RecipientKey:
    """A recipient's receipt key as the log registered it."""

    recipient_id: str
    key: VerifyKey
    registered: int  # its key_registered entry
    revoked: int | None  # its key_revoked entry, if any


def receipt_keys_of(entries: Mapping[int, LoggedEntry]) -> dict[str, RecipientKey]:
    """The recipients' receipt keys the entries register, with where each was registered and
    revoked. Raises EvidenceInvalid for a key that is not its key id."""
    keys: dict[str, RecipientKey] = {}
    for index, e in of_kind(entries, "key_registered", purpose="receipt"):
        raw = base64.b64decode(str(e.event["public_key"]))
        if fingerprint("ed25519", raw) != e.event["key_id"]:
            raise EvidenceInvalid(f"audit entry {index}: a key that is not its key id")
        keys[str(e.event["key_id"])] = RecipientKey(
            recipient_id=str(e.event["recipient_id"]),
            key=VerifyKey(raw),
            registered=index,
            revoked=None,
        )
    for index, e in of_kind(entries, "key_revoked", purpose="receipt"):
        key_id = str(e.event["key_id"])
        known = keys.get(key_id)
        if known is not None and known.revoked is None:
            keys[key_id] = RecipientKey(known.recipient_id, known.key, known.registered, index)
    return keys


def _keys_at(
    receipt_keys: Mapping[str, RecipientKey], recipient_id: str, index: int
) -> dict[str, VerifyKey]:
    """The recipient's receipt keys registered before entry `index` and not revoked by then."""
    return {
        key_id: key.key
        for key_id, key in receipt_keys.items()
        if key.recipient_id == recipient_id
        and key.registered < index
        and (key.revoked is None or key.revoked > index)
    }


def check_packet_and_receipt(
    packet: EvidencePacket,
    bundle: EvidenceBundle,
    entries: Mapping[int, LoggedEntry],
    hub_keys: Mapping[str, HubKeyValidity],
    receipt_keys: Mapping[str, RecipientKey],
) -> tuple[PacketBody | None, bool]:
    """Check one packet and its receipt; its verified body (None if not in the bundle) and
    whether it carries a receipt. Raises EvidenceInvalid."""
    pid = str(packet.packet_id)
    what = f"packet {pid} ({packet.recipient_id})"
    sealed = of_kind(entries, "packet_sealed", packet_id=pid)
    body: PacketBody | None = None
    if packet.envelope is not None:
        body, _ = hub_signed(packet.envelope, PACKET_TYPE, PacketBody, hub_keys, what)
        if (
            str(body.packet_id) != pid
            or body.recipient_id != packet.recipient_id
            or body.report_id != bundle.report_id
        ):
            raise EvidenceInvalid(f"{what}: its signed body names another packet or recipient")
        digest = sealed_digest(base64.b64decode(body.sealed))
        if not sealed:
            raise EvidenceInvalid(f"{what}: no audit entry records it sealed")
        index, entry = sealed[-1]
        if (
            entry.event.get("sealed_sha256") != digest
            or entry.event.get("recipient_id") != body.recipient_id
            or entry.event.get("recipient_key_id") != body.recipient_key_id
        ):
            raise EvidenceInvalid(
                f"{what}: its sealed bytes are not those audit entry {index} records sealed"
            )
    elif sealed:
        if not of_kind(entries, "packet_purged", packet_id=pid):
            raise EvidenceInvalid(f"{what}: its envelope is missing, and it was not purged")
        digest = str(sealed[-1][1].event["sealed_sha256"])
    elif of_kind(entries, "packet_awaiting_key", packet_id=pid) or of_kind(
        entries, "packet_held", packet_id=pid
    ):
        digest = ""  # held at intake: nothing was sealed
    else:
        raise EvidenceInvalid(f"{what}: its envelope is missing and no audit entry explains why")
    recorded = of_kind(entries, "receipt_verified", packet_id=pid)
    if packet.receipt is None:
        if recorded:
            raise EvidenceInvalid(
                f"{what}: its receipt is missing, though audit entry {recorded[0][0]} records it "
                "verified"
            )
        if packet.state == "delivered":
            raise EvidenceInvalid(f"{what}: delivered, but its receipt is missing")
        return body, False
    _check_receipt(packet, packet.receipt, digest, recorded, receipt_keys, what)
    return body, True


def _check_receipt(
    packet: EvidencePacket,
    receipt: Envelope,
    digest: str,
    recorded: list[tuple[int, LoggedEntry]],
    receipt_keys: Mapping[str, RecipientKey],
    what: str,
) -> None:
    if not recorded:
        raise EvidenceInvalid(f"{what}: no audit entry records its receipt verified")
    index, entry = recorded[0]
    if entry.event.get("receipt", {}).get("payload") != receipt.payload:
        raise EvidenceInvalid(f"{what}: its receipt is not the one audit entry {index} records")
    usable = _keys_at(receipt_keys, packet.recipient_id, index)
    try:
        body: ReceiptBody = verify_receipt(receipt, usable)
    except PacketInvalid as exc:
        raise EvidenceInvalid(
            f"{what}: its receipt does not verify with a receipt key the audit log registered "
            f"for {packet.recipient_id} before it"
        ) from exc
    if str(body.packet_id) != str(packet.packet_id) or body.recipient_id != packet.recipient_id:
        raise EvidenceInvalid(f"{what}: its receipt names another packet or recipient")
    if body.sealed_sha256 != digest:
        raise EvidenceInvalid(
            f"{what}: its receipt does not match its packet: the receipt names sealed bytes "
            f"{body.sealed_sha256[:16]}..., the packet's are {digest[:16]}..."
        )


# 6. Forwards and deletions


def check_forwards(
    bundle: EvidenceBundle,
    bodies: Mapping[str, PacketBody],
    entries: Mapping[int, LoggedEntry],
    receipt_keys: Mapping[str, RecipientKey],
) -> None:
    """6. Each forward is the one the log records accepted, carried by its packet and signed by
    a key the log registered for its forwarder; the deletions are those logged. Raises
    EvidenceInvalid."""
    recorded = {
        str(e.event["forward_id"]): (index, e) for index, e in of_kind(entries, "forward_accepted")
    }
    for forward in bundle.forwards:
        what = f"forward {forward.forward_id}"
        found = recorded.pop(str(forward.forward_id), None)
        if found is None:
            raise EvidenceInvalid(f"{what}: no audit entry records it")
        index, entry = found
        if (
            entry.event.get("packet_id") != str(forward.packet_id)
            or entry.event.get("from_recipient_id") != forward.from_recipient_id
            or entry.event.get("recipient_id") != forward.to_recipient_id
            or entry.event.get("forward_sha256") != forward.forward_sha256
        ):
            raise EvidenceInvalid(f"{what}: differs from what the audit log records")
        body = bodies.get(str(forward.packet_id))
        if body is None:
            continue  # purged: the log's record stands for it
        if body.forward is None or payload_sha256(body.forward) != forward.forward_sha256:
            raise EvidenceInvalid(f"{what}: its packet does not carry this forward")
        usable = _keys_at(receipt_keys, forward.from_recipient_id, index)
        try:
            verify_envelope(body.forward, FORWARD_TYPE, usable)
        except PacketInvalid as exc:
            raise EvidenceInvalid(
                f"{what}: not signed by a key the audit log registered for "
                f"{forward.from_recipient_id}"
            ) from exc
    if recorded:
        raise EvidenceInvalid(f"forward {next(iter(recorded))}: recorded, but not in the bundle")
    deleted = {
        (str(e.event["recipient_id"]), str(e.event["reason"]), str(e.event["deleted_at"]))
        for _, e in of_kind(entries, "copy_deleted")
    }
    stated = {(d.recipient_id, d.reason, instant(d.deleted_at)) for d in bundle.copy_deletions}
    if deleted != stated:
        raise EvidenceInvalid("the copy deletions differ from those the audit log records")
