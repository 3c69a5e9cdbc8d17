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
   the hub's commitment it opens has the acknowledgement's `commitment_root`;
8. last, so that every other reason is specific: the hub's statement signs the digest of the
   whole bundle, which covers what no other signature does (states, the time of export).
The first check that fails raises EvidenceInvalid with a one-line reason; nothing is partial.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from nacl.signing import VerifyKey
from pydantic import ValidationError

from connectors.config import ConnectorConfig
from connectors.errors import EvidenceInvalid
from connectors.recipient.evidence_keys import (
    HubKeyValidity,
    hub_key_validity,
    hub_signed,
    instant,
    published_key,
)
from connectors.recipient.evidence_log import (
    LoggedEntry,
    check_forwards,
    check_packet_and_receipt,
    included_entries,
    of_kind,
    payload_sha256,
    receipt_keys_of,
)
from connectors.recipient.forwarded import open_forward
from connectors.recipient.pull import ConnectorKeys, load_keys, open_with
from hub.commitment import check_packet
from hub.crypto import canonical_json
from hub.errors import PacketInvalid
from schemas.envelope import (
    ACKNOWLEDGEMENT_TYPE,
    TREE_HEAD_TYPE,
    AcknowledgementBody,
    PacketBody,
    TreeHeadBody,
)
from schemas.evidence import EVIDENCE_TYPE, EvidenceBundle, EvidenceStatement

__all__ = [
    "EvidenceSummary",
    "OpenedCopy",
    "format_summary",
    "parse_bundle",
    "read_bundle",
    "verify_bundle",
]


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


def read_bundle(path: Path) -> EvidenceBundle:
    """The bundle in `path`. Raises EvidenceInvalid naming the first member that is wrong."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EvidenceInvalid(f"{path}: cannot be read ({exc.strerror})") from exc
    return parse_bundle(data)


def parse_bundle(data: bytes) -> EvidenceBundle:
    """A bundle from its bytes. Raises EvidenceInvalid naming the first member that is wrong."""
    try:
        return EvidenceBundle.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the file"
        # The message of pydantic, never the value: a changed file may hold anything.
        raise EvidenceInvalid(f"not an evidence bundle: {where}: {first['msg']}") from exc


# 7. Opening with the recipient's keys


def _open_copies(
    bundle: EvidenceBundle,
    config: ConnectorConfig,
    hub_keys: Mapping[str, HubKeyValidity],
    acknowledged_root: str | None,
    entries: Mapping[int, LoggedEntry],
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
    accepted = of_kind(entries, "report_accepted")
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
                sealed = of_kind(entries, "packet_sealed", packet_id=str(packet.packet_id))
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
        pinned = {first.key_id: published_key(first)}
        warnings.append(
            f"no hub key pinned: trusted the bundle's first hub key {first.key_id}; compare it "
            "with the key the hub's operator gave you"
        )
    hub_keys = hub_key_validity(bundle.hub_keys, pinned)
    # 2.
    ack, _ = hub_signed(
        bundle.acknowledgement,
        ACKNOWLEDGEMENT_TYPE,
        AcknowledgementBody,
        hub_keys,
        "the acknowledgement",
    )
    if ack.report_id != bundle.report_id:
        raise EvidenceInvalid("the acknowledgement is of another report")
    head, _ = hub_signed(bundle.tree_head, TREE_HEAD_TYPE, TreeHeadBody, hub_keys, "the tree head")
    # 3.
    entries = included_entries(bundle, head, ack.source)
    # 4.
    accepted = of_kind(entries, "report_accepted")
    if not accepted:
        raise EvidenceInvalid("no audit entry of the bundle records the report accepted")
    index, entry = accepted[0]
    if entry.event.get("acknowledgement_sha256") != payload_sha256(bundle.acknowledgement):
        raise EvidenceInvalid(
            f"the acknowledgement is not the one audit entry {index} records sent to the source"
        )
    # 5.
    ids = [str(p.packet_id) for p in bundle.packets]
    if len(set(ids)) != len(ids):
        raise EvidenceInvalid("a packet appears twice in the bundle")
    receipt_keys = receipt_keys_of(entries)
    bodies: dict[str, PacketBody] = {}
    receipts = 0
    for packet in bundle.packets:
        body, receipted = check_packet_and_receipt(packet, bundle, entries, hub_keys, receipt_keys)
        if body is not None:
            bodies[str(packet.packet_id)] = body
        receipts += receipted
    for _, sealed in of_kind(entries, "packet_sealed"):
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
    check_forwards(bundle, bodies, entries, receipt_keys)
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
    # 8.
    _check_statement(bundle, hub_keys)
    return summary


def _check_statement(bundle: EvidenceBundle, hub_keys: Mapping[str, HubKeyValidity]) -> None:
    statement, _ = hub_signed(
        bundle.statement, EVIDENCE_TYPE, EvidenceStatement, hub_keys, "the hub's statement"
    )
    contents = bundle.model_dump(mode="json", exclude={"statement"})
    digest = hashlib.sha256(canonical_json(contents)).hexdigest()
    if (
        statement.report_id != bundle.report_id
        or statement.exported_at != bundle.exported_at
        or statement.bundle_sha256 != digest
    ):
        raise EvidenceInvalid(
            "the bundle is not the one the hub exported: its statement signs another digest "
            "(a member no other signature covers was changed, such as a state or a time)"
        )


def format_summary(summary: EvidenceSummary, recipient_id: str | None = None) -> str:
    """The short summary `connector evidence verify` prints."""
    lines = [
        f"EVIDENCE VERIFIED: report {summary.report_id}",
        f"  acknowledged to {summary.source} at {instant(summary.accepted_at)}, routed to "
        f"{', '.join(summary.recipients)}",
        f"  {summary.packets} packet(s), {summary.receipts} receipt(s) matching their packets, "
        f"{summary.forwards} forward(s), {summary.deletions} copy deletion(s)"
        + (f", {summary.purged} purged (checked against the log)" if summary.purged else ""),
        f"  {summary.entries} audit entries included in the tree head of size "
        f"{summary.tree_size}, root {summary.root_hash}, signed {instant(summary.tree_signed_at)}",
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
