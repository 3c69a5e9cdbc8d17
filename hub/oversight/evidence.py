"""The evidence bundle of one report, for a prosecutor or a court: `export_evidence`.

It gathers what the hub holds about a report's way and nothing of its content (docs/protocol.md,
section 9): the signed acknowledgement, every packet exactly as stored (the report sealed to its
recipient), each recipient's signed receipt, the forwards and deletions recorded, the report's
audit entries and those registering the keys its receipts and forwards are signed with, each with
an inclusion proof to one signed tree head, and the hub's key history.

1. The export is itself recorded in the audit log (an `operator_action`, `evidence.export`).
2. A tree head is signed over the whole log as it is now, so that every entry of the report,
   the newest included, is covered by a signature; if another hub process signed the same size
   at the same moment, its head is used.
3. The bundle is read in that one session, and every proof leads to that head.
4. The hub signs a statement over the digest of the whole bundle, so that what no other signature
   covers (a delivery's state, the time of export) cannot be changed unseen either.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Literal

from nacl.signing import SigningKey
from sqlmodel import Session, col, select

from hub.audit import log as audit
from hub.audit.events import OperatorAction
from hub.crypto import canonical_json, sign_envelope
from hub.errors import NotFound, ProofInvalid
from hub.intake.accept import IntakeAnswer
from hub.store import AuditEntryRow, CopyDeletionRow, DeliveryRow, ForwardRow, ReportRow
from schemas.envelope import Envelope, PacketBody, PublishedHubKeys
from schemas.evidence import (
    EVIDENCE_TYPE,
    EvidenceBundle,
    EvidenceContents,
    EvidenceDeletion,
    EvidenceEntry,
    EvidenceForward,
    EvidencePacket,
    EvidenceStatement,
)

__all__ = ["export_evidence"]

_KEY_KINDS = ("key_registered", "key_revoked")
_MAX_ENTRIES = 100_000


def export_evidence(
    session: Session,
    *,
    report_id: str,
    published: PublishedHubKeys,
    key: SigningKey,
    now: datetime,
    actor: str,
    role: Literal["administrator", "coordinator"],
    high_water: Path | None = None,
) -> EvidenceBundle:
    """The evidence bundle of `report_id`, its proofs to a tree head signed now.

    Raises NotFound for an unknown report, ProofInvalid if the log is damaged.
    """
    report = session.get(ReportRow, report_id)
    if report is None:
        raise NotFound("no such report")
    # 1.
    audit.record(
        session,
        OperatorAction(actor=actor, role=role, action="evidence.export", subject=report_id),
        at=now,
    )
    session.commit()
    # 2.
    head = audit.sign_tree_head(session, key=key, now=now, high_water=high_water)
    head = head or audit.latest_tree_head(session)
    if head is None:
        raise ProofInvalid("the hub could not sign a tree head")
    # 3.
    deliveries = session.exec(
        select(DeliveryRow)
        .where(DeliveryRow.report_id == report_id)
        .order_by(col(DeliveryRow.created_at), col(DeliveryRow.packet_id))
    ).all()
    packets = [_packet(row) for row in deliveries]
    entries = _entries(session, report_id, packets, head.tree_size)
    paths = audit.inclusion_proofs(
        session, leaf_indices=[item.leaf_index for item in entries], size=head.tree_size
    )
    contents = EvidenceContents(
        report_id=report_id,
        exported_at=now,
        acknowledgement=IntakeAnswer.model_validate_json(report.answer).acknowledgement,
        packets=packets,
        forwards=_forwards(session, report_id),
        copy_deletions=_deletions(session, report_id),
        tree_head=head.envelope,
        entries=[
            EvidenceEntry(
                leaf_index=item.leaf_index, entry=item.entry, audit_path=paths[item.leaf_index]
            )
            for item in entries
        ],
        hub_keys=published,
    )
    # 4. The hub's statement over all of it: the states and times no other signature covers.
    digest = hashlib.sha256(canonical_json(contents.model_dump(mode="json"))).hexdigest()
    statement = EvidenceStatement(report_id=report_id, exported_at=now, bundle_sha256=digest)
    return EvidenceBundle(**dict(contents), statement=sign_envelope(EVIDENCE_TYPE, statement, key))


def _packet(row: DeliveryRow) -> EvidencePacket:
    return EvidencePacket(
        packet_id=row.packet_id,
        recipient_id=row.recipient_id,
        rules=row.rules.split(","),
        state=row.state,
        envelope=None if row.packet is None else Envelope.model_validate_json(row.packet),
        receipt=None if row.receipt is None else Envelope.model_validate_json(row.receipt),
    )


def _bodies(packets: list[EvidencePacket]) -> list[PacketBody]:
    return [
        PacketBody.model_validate_json(base64.b64decode(p.envelope.payload))
        for p in packets
        if p.envelope is not None
    ]


def _entries(
    session: Session, report_id: str, packets: list[EvidencePacket], size: int
) -> list[audit.AuditEntry]:
    """The report's entries, and those registering or revoking the recipients' keys its receipts
    and forwards are signed with, in the tree of `size`, in index order."""
    signers = {s.keyid for p in packets if p.receipt is not None for s in p.receipt.signatures}
    recipients = {p.recipient_id for p in packets}
    for body in _bodies(packets):
        if body.forwarder_key is not None:
            signers.add(body.forwarder_key.key_id)
            recipients.add(body.forwarder_key.recipient_id)
    rows = session.exec(
        select(AuditEntryRow.leaf_index, AuditEntryRow.entry)
        .where(col(AuditEntryRow.kind).in_(_KEY_KINDS))
        .where(col(AuditEntryRow.recipient_id).in_(recipients))
        .where(AuditEntryRow.leaf_index < size)
    ).all()
    keyed = [index for index, text in rows if json.loads(text)["event"]["key_id"] in signers]
    chosen = {
        item.leaf_index: item
        for item in audit.entries(session, report_id=report_id, limit=_MAX_ENTRIES)
        if item.leaf_index < size
    }
    for index in keyed:
        chosen[index] = audit.entries(session, start=index, limit=1)[0]
    return [chosen[index] for index in sorted(chosen)]


def _forwards(session: Session, report_id: str) -> list[EvidenceForward]:
    rows = session.exec(
        select(ForwardRow)
        .where(ForwardRow.report_id == report_id)
        .order_by(col(ForwardRow.accepted_at), col(ForwardRow.forward_id))
    ).all()
    return [
        EvidenceForward(
            forward_id=row.forward_id,
            from_recipient_id=row.from_recipient_id,
            to_recipient_id=row.to_recipient_id,
            packet_id=row.packet_id,
            forward_sha256=row.forward_sha256,
            forwarded_at=row.forwarded_at,
            accepted_at=row.accepted_at,
        )
        for row in rows
    ]


def _deletions(session: Session, report_id: str) -> list[EvidenceDeletion]:
    rows = session.exec(
        select(CopyDeletionRow)
        .where(CopyDeletionRow.report_id == report_id)
        .order_by(col(CopyDeletionRow.recorded_at), col(CopyDeletionRow.recipient_id))
    ).all()
    return [
        EvidenceDeletion(
            recipient_id=row.recipient_id,
            reason=row.reason,
            deleted_at=row.deleted_at,
            recorded_at=row.recorded_at,
        )
        for row in rows
    ]
