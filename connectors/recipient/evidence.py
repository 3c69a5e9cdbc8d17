"""Verify a report's evidence bundle offline, with no call to the hub: `connector evidence verify`.

The steps follow docs/protocol.md, section 9.3, and the numbers below are its numbers:
1. the hub's keys: the pinned key and every later key it endorsed, in a chain, each valid from
   its endorsed `valid_from` until the next key's;
2. every hub signature (acknowledgement, tree head, packets) verifies with one of those keys,
   made within that key's validity;
3. every audit entry is leaf `leaf_index` of the signed tree head: its inclusion proof reaches
   the head's root;
4. the acknowledgement is the one the audit log recorded at intake;
5. every packet is the one the log recorded sealed, every acknowledged recipient has one, and
   every receipt the log recorded is there, signed by a receipt key the log registered for that
   recipient, and names its packet's sealed bytes;
6. every forward and deletion is the one the log recorded, each forward signed by a key the log
   registered for its forwarder;
7. with a recipient's keys, its packets open, and the report opened is the one acknowledged:
   the hub's commitment it opens has the acknowledgement's `commitment_root`.
The first check that fails raises EvidenceInvalid with a one-line reason; nothing is partial.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from nacl.signing import VerifyKey
from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from connectors.config import ConnectorConfig
from connectors.errors import EvidenceInvalid
from connectors.recipient.forwarded import open_forward
from connectors.recipient.pull import ConnectorKeys, load_keys, open_with
from connectors.recipient.trust import extend_trust
from hub import merkle
from hub.commitment import check_packet
from hub.crypto import sealed_digest, verify_envelope, verify_receipt
from hub.errors import PacketInvalid, ProofInvalid
from keys import fingerprint
from schemas.commitment import FORWARD_TYPE
from schemas.envelope import (
    ACKNOWLEDGEMENT_TYPE,
    PACKET_TYPE,
    TREE_HEAD_TYPE,
    AcknowledgementBody,
    Envelope,
    HubKeyEndorsement,
    PacketBody,
    PublishedHubKey,
    PublishedHubKeys,
    ReceiptBody,
    TreeHeadBody,
)
from schemas.evidence import EvidenceBundle, EvidencePacket

__all__ = [
    "EvidenceSummary",
    "HubKeyValidity",
    "OpenedCopy",
    "format_summary",
    "hub_key_validity",
    "read_bundle",
    "verify_bundle",
]

_M = TypeVar("_M", bound=BaseModel)


@dataclass(frozen=True)
class HubKeyValidity:
    """A hub key trusted from the pinned one, and when it may sign: [valid_from, valid_until)."""

    key_id: str
    key: VerifyKey
    valid_from: datetime
    valid_until: datetime | None


@dataclass(frozen=True)
class OpenedCopy:
    """A packet of the bundle opened with the recipient's key: what it showed."""

    packet_id: str
    forwarded: bool
    commitment_root: str | None
    acknowledged: bool  # its commitment root is the acknowledgement's
    resealed: bool = False  # sealed again after a key revocation: a commitment of its own


@dataclass
class EvidenceSummary:
    """What a verified bundle shows."""

    report_id: str
    source: str
    accepted_at: datetime
    recipients: list[str]
    packets: int
    receipts: int
    purged: int
    forwards: int
    deletions: int
    entries: int
    tree_size: int
    root_hash: str
    tree_signed_at: datetime
    hub_keys: list[str]
    pinned: str
    commitment_root: str | None
    opened: list[OpenedCopy] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class _Entry(BaseModel):
    """An audit entry's text, parsed (docs/audit.md): its own index, time, kind and event."""

    model_config = ConfigDict(extra="forbid")

    v: Literal[1]
    index: int
    at: AwareDatetime
    kind: str
    event: dict[str, Any]


def read_bundle(path: Path) -> EvidenceBundle:
    """The bundle in `path`. Raises EvidenceInvalid naming the first member that is wrong."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EvidenceInvalid(f"{path}: cannot be read ({exc.strerror})") from exc
    try:
        return EvidenceBundle.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the file"
        # The message of pydantic, never the value: a changed file may hold anything.
        raise EvidenceInvalid(f"not an evidence bundle: {where}: {first['msg']}") from exc


# 1. The hub's keys


def _published_key(entry: PublishedHubKey) -> VerifyKey:
    try:
        raw = base64.b64decode(entry.public_key, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EvidenceInvalid(f"hub key {entry.key_id}: its public key is not base64") from exc
    if fingerprint("ed25519", raw) != entry.key_id:
        raise EvidenceInvalid(f"hub key {entry.key_id}: its public key has another key id")
    return VerifyKey(raw)


def hub_key_validity(
    published: PublishedHubKeys, pinned: Mapping[str, VerifyKey]
) -> dict[str, HubKeyValidity]:
    """The pinned key and every key endorsed from it in a chain (the connector's rule, protocol
    section 8), each valid from its `valid_from` until the `valid_from` its successor's
    endorsement signs, or its own `valid_until` if earlier. The first key's start is as published.

    Raises EvidenceInvalid if the pinned key is not in the history or an endorsement's signed
    `valid_from` differs from the published one.
    """
    by_id = {entry.key_id: entry for entry in published.keys}
    anchors = [key_id for key_id in pinned if key_id in by_id]
    if not anchors:
        raise EvidenceInvalid(
            f"the pinned hub key {next(iter(pinned), '?')} is not in the bundle's key history"
        )
    trusted = extend_trust({key_id: pinned[key_id] for key_id in anchors}, published)
    ends: dict[str, datetime | None] = {key_id: by_id[key_id].valid_until for key_id in trusted}
    for key_id in trusted:
        entry = by_id[key_id]
        if key_id in anchors or entry.endorsement is None:
            continue
        # extend_trust verified it: read which key endorsed it, and the valid_from it signed.
        endorser = next(s.keyid for s in entry.endorsement.signatures if s.keyid in trusted)
        body = HubKeyEndorsement.model_validate_json(base64.b64decode(entry.endorsement.payload))
        if body.valid_from != entry.valid_from:
            raise EvidenceInvalid(
                f"hub key {key_id}: its published valid_from is not the one its endorsement signs"
            )
        end = ends.get(endorser)
        ends[endorser] = body.valid_from if end is None else min(end, body.valid_from)
    return {
        key_id: HubKeyValidity(
            key_id=key_id,
            key=_published_key(by_id[key_id]) if key_id not in anchors else pinned[key_id],
            valid_from=by_id[key_id].valid_from,
            valid_until=ends[key_id],
        )
        for key_id in trusted
    }


# 2. Hub signatures, each within its key's validity


def _instant(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _hub_signed(
    envelope: Envelope,
    payload_type: str,
    model: type[_M],
    keys: Mapping[str, HubKeyValidity],
    what: str,
) -> tuple[_M, HubKeyValidity]:
    """The body of a hub-signed envelope and the key that signed it, checked to sign within its
    validity at the body's own time. Raises EvidenceInvalid."""
    for signature in envelope.signatures:
        key = keys.get(signature.keyid)
        if key is None:
            continue
        try:
            payload = verify_envelope(envelope, payload_type, {key.key_id: key.key})
        except PacketInvalid:
            continue
        try:
            body = model.model_validate_json(payload)
        except ValidationError as exc:
            raise EvidenceInvalid(f"{what}: signed by the hub but not what it should be") from exc
        at = _signed_at(body)
        if at < key.valid_from or (key.valid_until is not None and at >= key.valid_until):
            until = "now" if key.valid_until is None else _instant(key.valid_until)
            raise EvidenceInvalid(
                f"{what}: signed at {_instant(at)} by hub key {key.key_id}, outside its validity "
                f"({_instant(key.valid_from)} until {until})"
            )
        return body, key
    raise EvidenceInvalid(
        f"{what}: its signature does not verify with a hub key trusted from the pinned key "
        "(changed, or signed by another key)"
    )


def _signed_at(body: BaseModel) -> datetime:
    if isinstance(body, AcknowledgementBody):
        return body.accepted_at
    if isinstance(body, PacketBody):
        return body.sealed_at
    if isinstance(body, TreeHeadBody):
        return body.timestamp
    raise TypeError(type(body).__name__)


# 3. Audit entries in the signed tree head


def _entries(bundle: EvidenceBundle, head: TreeHeadBody) -> dict[int, _Entry]:
    found: dict[int, _Entry] = {}
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
            parsed = _Entry.model_validate_json(data)
        except ValidationError as exc:
            raise EvidenceInvalid(f"{where}: not an audit entry") from exc
        if parsed.index != item.leaf_index:
            raise EvidenceInvalid(f"{where}: says it is entry {parsed.index}")
        about = parsed.event.get("report_id")
        if about is not None and about != str(bundle.report_id):
            raise EvidenceInvalid(f"{where} ({parsed.kind}) is about another report")
        found[item.leaf_index] = parsed
    return found


def _of_kind(entries: Mapping[int, _Entry], kind: str, **match: str) -> list[tuple[int, _Entry]]:
    return [
        (index, e)
        for index, e in sorted(entries.items())
        if e.kind == kind and all(e.event.get(k) == v for k, v in match.items())
    ]


def _sha256(envelope: Envelope) -> str:
    return hashlib.sha256(base64.b64decode(envelope.payload)).hexdigest()


# 5. Packets and receipts


@dataclass(frozen=True)
class _RecipientKey:
    recipient_id: str
    key: VerifyKey
    registered: int  # its key_registered entry
    revoked: int | None  # its key_revoked entry, if any


def _receipt_keys(entries: Mapping[int, _Entry]) -> dict[str, _RecipientKey]:
    keys: dict[str, _RecipientKey] = {}
    for index, e in _of_kind(entries, "key_registered", purpose="receipt"):
        raw = base64.b64decode(str(e.event["public_key"]))
        if fingerprint("ed25519", raw) != e.event["key_id"]:
            raise EvidenceInvalid(f"audit entry {index}: a key that is not its key id")
        keys[str(e.event["key_id"])] = _RecipientKey(
            recipient_id=str(e.event["recipient_id"]),
            key=VerifyKey(raw),
            registered=index,
            revoked=None,
        )
    for index, e in _of_kind(entries, "key_revoked", purpose="receipt"):
        key_id = str(e.event["key_id"])
        known = keys.get(key_id)
        if known is not None and known.revoked is None:
            keys[key_id] = _RecipientKey(known.recipient_id, known.key, known.registered, index)
    return keys


def _check_packet(
    packet: EvidencePacket,
    bundle: EvidenceBundle,
    entries: Mapping[int, _Entry],
    hub_keys: Mapping[str, HubKeyValidity],
    receipt_keys: Mapping[str, _RecipientKey],
) -> tuple[PacketBody | None, bool]:
    """Check one packet and its receipt; its verified body (None if not in the bundle) and
    whether it carries a receipt. Raises EvidenceInvalid."""
    pid = str(packet.packet_id)
    what = f"packet {pid} ({packet.recipient_id})"
    sealed = _of_kind(entries, "packet_sealed", packet_id=pid)
    body: PacketBody | None = None
    if packet.envelope is not None:
        body, _ = _hub_signed(packet.envelope, PACKET_TYPE, PacketBody, hub_keys, what)
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
        if not _of_kind(entries, "packet_purged", packet_id=pid):
            raise EvidenceInvalid(f"{what}: its envelope is missing, and it was not purged")
        digest = str(sealed[-1][1].event["sealed_sha256"])
    elif _of_kind(entries, "packet_awaiting_key", packet_id=pid) or _of_kind(
        entries, "packet_held", packet_id=pid
    ):
        digest = ""  # held at intake: nothing was sealed
    else:
        raise EvidenceInvalid(f"{what}: its envelope is missing and no audit entry explains why")
    recorded = _of_kind(entries, "receipt_verified", packet_id=pid)
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
    recorded: list[tuple[int, _Entry]],
    receipt_keys: Mapping[str, _RecipientKey],
    what: str,
) -> None:
    if not recorded:
        raise EvidenceInvalid(f"{what}: no audit entry records its receipt verified")
    index, entry = recorded[0]
    if entry.event.get("receipt", {}).get("payload") != receipt.payload:
        raise EvidenceInvalid(f"{what}: its receipt is not the one audit entry {index} records")
    usable = {
        key_id: key.key
        for key_id, key in receipt_keys.items()
        if key.recipient_id == packet.recipient_id
        and key.registered < index
        and (key.revoked is None or key.revoked > index)
    }
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


def _check_forwards(
    bundle: EvidenceBundle,
    bodies: Mapping[str, PacketBody],
    entries: Mapping[int, _Entry],
    receipt_keys: Mapping[str, _RecipientKey],
) -> None:
    recorded = {
        str(e.event["forward_id"]): (index, e) for index, e in _of_kind(entries, "forward_accepted")
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
        if body.forward is None or _sha256(body.forward) != forward.forward_sha256:
            raise EvidenceInvalid(f"{what}: its packet does not carry this forward")
        usable = {
            key_id: key.key
            for key_id, key in receipt_keys.items()
            if key.recipient_id == forward.from_recipient_id
            and key.registered < index
            and (key.revoked is None or key.revoked > index)
        }
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
        for _, e in _of_kind(entries, "copy_deleted")
    }
    stated = {(d.recipient_id, d.reason, _instant(d.deleted_at)) for d in bundle.copy_deletions}
    if deleted != stated:
        raise EvidenceInvalid("the copy deletions differ from those the audit log records")


# 7. Opening with the recipient's keys


def _open_copies(
    bundle: EvidenceBundle,
    config: ConnectorConfig,
    hub_keys: Mapping[str, HubKeyValidity],
    acknowledged_root: str | None,
    entries: Mapping[int, _Entry],
) -> list[OpenedCopy]:
    own = [
        (p, p.envelope)
        for p in bundle.packets
        if p.recipient_id == config.recipient_id and p.envelope is not None
    ]
    if not own:
        raise EvidenceInvalid(f"no packet of the bundle is for {config.recipient_id} to open")
    loaded = load_keys(config)
    trusted = {key_id: key.key for key_id, key in hub_keys.items()}
    keys = ConnectorKeys(sealing=loaded.sealing, signing=loaded.signing, hub=trusted)
    accepted = _of_kind(entries, "report_accepted")
    accepted_at = accepted[0][1].at if accepted else None
    opened: list[OpenedCopy] = []
    for packet, envelope in own:
        what = f"packet {packet.packet_id}"
        try:
            if PacketBody.model_validate_json(base64.b64decode(envelope.payload)).forwarded:
                forward = open_forward(
                    envelope,
                    hub_keys=trusted,
                    sealing=keys.sealing,
                    recipient_id=config.recipient_id,
                )
                root: str | None = forward.commitment.root
                resealed = False
            else:
                copy = open_with(envelope, keys, config.recipient_id)
                commitment = check_packet(copy, trusted)
                root = None if commitment is None else commitment.root
                sealed = _of_kind(entries, "packet_sealed", packet_id=str(packet.packet_id))
                resealed = bool(sealed) and sealed[-1][1].at != accepted_at
        except PacketInvalid as exc:
            raise EvidenceInvalid(
                f"{what} does not open with this connector's keys: {exc}"
            ) from exc
        matches = root is not None and root == acknowledged_root
        if not matches and not resealed and acknowledged_root is not None:
            raise EvidenceInvalid(
                f"{what}: the report opened is not the one acknowledged: its commitment root "
                f"{(root or 'none')[:16]}... is not the acknowledgement's "
                f"{acknowledged_root[:16]}..."
            )
        opened.append(
            OpenedCopy(
                packet_id=str(packet.packet_id),
                forwarded=packet.rules == ["forward"],
                commitment_root=root,
                acknowledged=matches,
                resealed=resealed and not matches,
            )
        )
    return opened


def verify_bundle(
    bundle: EvidenceBundle,
    pinned: Mapping[str, VerifyKey] | None,
    *,
    config: ConnectorConfig | None = None,
) -> EvidenceSummary:
    """Verify the bundle as the module docstring says, offline. Without `pinned`, the first key
    of the bundle's own history is trusted (and the summary warns). Raises EvidenceInvalid."""
    try:
        return _verify(bundle, pinned, config)
    except (KeyError, TypeError, ValueError) as exc:
        # A member of a signed or proven object that is not of its documented shape.
        raise EvidenceInvalid(f"a part of the bundle is malformed ({type(exc).__name__})") from exc


def _verify(
    bundle: EvidenceBundle,
    pinned: Mapping[str, VerifyKey] | None,
    config: ConnectorConfig | None,
) -> EvidenceSummary:
    warnings: list[str] = []
    # 1.
    if pinned is None:
        first = min(bundle.hub_keys.keys, key=lambda k: k.valid_from, default=None)
        if first is None:
            raise EvidenceInvalid("the bundle's hub key history is empty")
        pinned = {first.key_id: _published_key(first)}
        warnings.append(
            f"no hub key pinned: trusted the bundle's first hub key {first.key_id}; compare it "
            "with the key the hub's operator gave you"
        )
    hub_keys = hub_key_validity(bundle.hub_keys, pinned)
    # 2.
    ack, _ = _hub_signed(
        bundle.acknowledgement,
        ACKNOWLEDGEMENT_TYPE,
        AcknowledgementBody,
        hub_keys,
        "the acknowledgement",
    )
    if ack.report_id != bundle.report_id:
        raise EvidenceInvalid("the acknowledgement is of another report")
    head, _ = _hub_signed(bundle.tree_head, TREE_HEAD_TYPE, TreeHeadBody, hub_keys, "the tree head")
    # 3.
    entries = _entries(bundle, head)
    # 4.
    accepted = _of_kind(entries, "report_accepted")
    if not accepted:
        raise EvidenceInvalid("no audit entry of the bundle records the report accepted")
    index, entry = accepted[0]
    if entry.event.get("acknowledgement_sha256") != _sha256(bundle.acknowledgement):
        raise EvidenceInvalid(
            f"the acknowledgement is not the one audit entry {index} records sent to the source"
        )
    # 5.
    ids = [str(p.packet_id) for p in bundle.packets]
    if len(set(ids)) != len(ids):
        raise EvidenceInvalid("a packet appears twice in the bundle")
    receipt_keys = _receipt_keys(entries)
    bodies: dict[str, PacketBody] = {}
    receipts = 0
    for packet in bundle.packets:
        body, receipted = _check_packet(packet, bundle, entries, hub_keys, receipt_keys)
        if body is not None:
            bodies[str(packet.packet_id)] = body
        receipts += receipted
    for _, sealed in _of_kind(entries, "packet_sealed"):
        if sealed.event.get("packet_id") not in ids:
            raise EvidenceInvalid(
                f"packet {sealed.event.get('packet_id')}: recorded sealed, but not in the bundle"
            )
    copies = {p.recipient_id for p in bundle.packets if p.rules != ["forward"]}
    for routed in ack.recipients:
        if routed.recipient_id not in copies:
            raise EvidenceInvalid(
                f"{routed.recipient_id} was acknowledged as a recipient, but the bundle has no "
                "packet for it"
            )
    # 6.
    _check_forwards(bundle, bodies, entries, receipt_keys)
    summary = EvidenceSummary(
        report_id=str(bundle.report_id),
        source=ack.source,
        accepted_at=ack.accepted_at,
        recipients=[r.recipient_id for r in ack.recipients],
        packets=len(bundle.packets),
        receipts=receipts,
        purged=sum(1 for p in bundle.packets if p.envelope is None),
        forwards=len(bundle.forwards),
        deletions=len(bundle.copy_deletions),
        entries=len(entries),
        tree_size=head.tree_size,
        root_hash=head.root_hash,
        tree_signed_at=head.timestamp,
        hub_keys=sorted(hub_keys),
        pinned=next(iter(pinned)),
        commitment_root=ack.commitment_root,
        warnings=warnings,
    )
    # 7.
    if config is not None:
        summary.opened = _open_copies(bundle, config, hub_keys, ack.commitment_root, entries)
    return summary


def format_summary(summary: EvidenceSummary, recipient_id: str | None = None) -> str:
    """The short summary `connector evidence verify` prints."""
    lines = [
        f"EVIDENCE VERIFIED: report {summary.report_id}",
        f"  acknowledged to {summary.source} at {_instant(summary.accepted_at)}, routed to "
        f"{', '.join(summary.recipients)}",
        f"  {summary.packets} packet(s), {summary.receipts} receipt(s) matching their packets, "
        f"{summary.forwards} forward(s), {summary.deletions} copy deletion(s)"
        + (f", {summary.purged} purged (checked against the log)" if summary.purged else ""),
        f"  {summary.entries} audit entries included in the tree head of size "
        f"{summary.tree_size}, root {summary.root_hash}, signed {_instant(summary.tree_signed_at)}",
        f"  hub keys trusted from {summary.pinned}: {', '.join(summary.hub_keys)}",
    ]
    for copy in summary.opened:
        kind = "forward" if copy.forwarded else "copy"
        if copy.acknowledged:
            shown = f"the report acknowledged (commitment root {copy.commitment_root})"
        elif copy.resealed:
            shown = "a copy sealed again after a key revocation, with a commitment of its own"
        else:
            shown = "the report acknowledged (a version 1 acknowledgement: by its id only)"
        lines.append(f"  opened as {recipient_id}: {kind} {copy.packet_id} holds {shown}")
    lines += [f"  warning: {w}" for w in summary.warnings]
    return "\n".join(lines)
