"""Forwards: a recipient passes a report it received on to a section or police desk.

The forwarder seals its opening (hub/commitment.py) to the next recipient's key and signs a
forward; the hub cannot read it. The steps of `accept_forward`, in order:
1. Verify the forward's signature with the caller's own receipt keys, then parse it; it must name
   the caller as its forwarder.
2. The caller holds a verified receipt for the report: nobody forwards what it never received.
3. The target is a section or police desk of a member country, not the caller, and the forward is
   sealed to its current sealing key.
4. The forward carries the hub's own signed commitment to that report, and names the sealed bytes
   that came with it.
5. A forward id seen before returns the stored answer for the same forward, and is a conflict
   for any other.
6. Wrap it in a packet signed by the hub, with the forwarder's key as the hub knows it, and store
   the delivery, the forward and their audit entries in one transaction. From there the packet is
   pulled or pushed, receipted, retried and purged like any packet.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from uuid import UUID, uuid4

from nacl.signing import VerifyKey
from pydantic import ValidationError
from sqlmodel import Session, select

from hub import crypto
from hub.audit.events import CopyDeleted, ForwardAccepted, PacketSealed
from hub.audit.log import record
from hub.commitment import verify_commitment
from hub.delivery.report_keys import key_of_received_report, received_keys
from hub.delivery.state import DeliveryState
from hub.errors import Conflict, InvalidInput, NotFound, PacketInvalid
from hub.logs import get_logger
from hub.network.directory import receipt_keys, recipients
from hub.network.keyring import HubSecrets
from hub.network.routing import RecipientKind
from hub.store import CopyDeletionRow, DeliveryRow, ForwardRow, ReportRow, one_writer
from schemas.commitment import (
    FORWARD_TYPE,
    CopyDeletion,
    CopyDeletionAnswer,
    ForwardAnswer,
    ForwardBody,
    ForwardRequest,
    ForwardTarget,
    ForwardTargets,
)
from schemas.envelope import PACKET_TYPE, ForwarderKey, PacketBody, PublishedHubKeys

__all__ = [
    "FORWARD_RULE",
    "accept_forward",
    "forward_targets",
    "hub_verify_keys",
    "record_copy_deleted",
]

log = get_logger(__name__)

FORWARD_RULE = "forward"  # the delivery's `rules`: it was forwarded, not routed
_TARGET_KINDS = (RecipientKind.section, RecipientKind.police)


def hub_verify_keys(published: PublishedHubKeys) -> dict[str, VerifyKey]:
    """Every signing key the hub has published, by key id: its older commitments verify too."""
    return {key.key_id: VerifyKey(base64.b64decode(key.public_key)) for key in published.keys}


def forward_targets(session: Session, now: datetime) -> ForwardTargets:
    """Every section and police desk of a member country with a current sealing key."""
    targets = []
    for recipient in recipients(session, now):
        member = recipient.member
        if member.kind not in _TARGET_KINDS or member.country is None:
            continue
        if recipient.sealing_key is None:
            continue
        targets.append(
            ForwardTarget(
                recipient_id=member.recipient_id,
                country=member.country,
                kind="section" if member.kind is RecipientKind.section else "police",
                key_id=crypto.fingerprint_x25519(recipient.sealing_key),
                public_key=base64.b64encode(bytes(recipient.sealing_key)).decode("ascii"),
            )
        )
    return ForwardTargets(targets=sorted(targets, key=lambda t: t.recipient_id))


def _received(session: Session, key: str, recipient_id: str) -> DeliveryRow:
    """The caller's delivered copy of the report keyed `key`. Raises NotFound if it holds none."""
    row = session.exec(
        select(DeliveryRow)
        .where(DeliveryRow.report_id == key)
        .where(DeliveryRow.recipient_id == recipient_id)
        .where(DeliveryRow.state == DeliveryState.delivered)
    ).first()
    if row is None:
        raise NotFound(f"no verified receipt of report {key} by {recipient_id}")
    return row


def _verified_forward(
    session: Session, caller_id: str, request: ForwardRequest, now: datetime
) -> tuple[ForwardBody, bytes, VerifyKey, str]:
    """Step 1: the body, its payload bytes, and the caller's key that signed it."""
    keys = receipt_keys(session, caller_id, now)
    try:
        payload = crypto.verify_envelope(request.forward, FORWARD_TYPE, keys)
        body = ForwardBody.model_validate_json(payload)
    except (PacketInvalid, ValidationError) as exc:
        raise InvalidInput.at("forward", "not a forward signed by the caller") from exc
    if body.from_recipient_id != caller_id:
        raise InvalidInput.at("forward", "not a forward signed by the caller")
    signer = next(s.keyid for s in request.forward.signatures if s.keyid in keys)
    return body, payload, keys[signer], signer


def accept_forward(
    session: Session,
    *,
    caller_id: str,
    request: ForwardRequest,
    secrets: HubSecrets,
    hub_keys: Mapping[str, VerifyKey],
    now: datetime,
) -> ForwardAnswer:
    """Route a forward to its recipient as a packet (see the module's steps).

    Raises InvalidInput (a bad signature, target, key, commitment or digest), NotFound (the
    caller never received the report) or Conflict (a forward id reused for another forward).
    """
    # 1.
    body, payload, signer_key, signer_id = _verified_forward(session, caller_id, request, now)
    # 2. The report is the one the caller received under this id, whose commitment it passes on.
    report_id = _forwarded_key(session, caller_id, body, hub_keys)
    # 3.
    target = next(
        (r for r in recipients(session, now) if r.member.recipient_id == body.to_recipient_id),
        None,
    )
    if (
        target is None
        or target.member.kind not in _TARGET_KINDS
        or target.member.country is None
        or body.to_recipient_id == caller_id
    ):
        raise InvalidInput.at("forward.to_recipient_id", "not a section or police desk")
    if (
        target.sealing_key is None
        or crypto.fingerprint_x25519(target.sealing_key) != body.to_key_id
    ):
        raise InvalidInput.at("forward.to_key_id", "not the recipient's current sealing key")
    # 4.
    try:
        committed = verify_commitment(body.commitment, hub_keys)
        sealed = base64.b64decode(request.sealed, validate=True)
    except (PacketInvalid, binascii.Error, ValueError) as exc:
        raise InvalidInput.at("forward.commitment", "not the hub's commitment") from exc
    if committed.report_id != body.report_id:
        raise InvalidInput.at("forward.commitment", "not the hub's commitment to this report")
    if crypto.sealed_digest(sealed) != body.sealed_sha256:
        raise InvalidInput.at("sealed", "does not match the forward's sealed_sha256")
    # 5.
    forward_sha256 = hashlib.sha256(payload).hexdigest()
    known = session.get(ForwardRow, str(body.forward_id))
    if known is not None:
        if known.forward_sha256 != forward_sha256:
            raise Conflict(f"forward {body.forward_id} was already sent with other content")
        return _answer(known, body.report_id)
    # 6.
    packet = PacketBody(
        packet_version=2,
        packet_id=uuid4(),
        report_id=body.report_id,
        recipient_id=body.to_recipient_id,
        recipient_key_id=body.to_key_id,
        sealed_at=now,
        sealed=request.sealed,
        forward=request.forward,
        forwarder_key=ForwarderKey(
            recipient_id=caller_id,
            key_id=signer_id,
            public_key=base64.b64encode(bytes(signer_key)).decode("ascii"),
        ),
    )
    envelope = crypto.sign_envelope(PACKET_TYPE, packet, secrets.signing_key)
    packet_id = str(packet.packet_id)
    sealed_sha256 = crypto.sealed_digest(sealed)
    hub_key_id = envelope.signatures[0].keyid
    row = ForwardRow(
        forward_id=str(body.forward_id),
        report_id=report_id,
        from_recipient_id=caller_id,
        to_recipient_id=body.to_recipient_id,
        packet_id=packet_id,
        forward_sha256=forward_sha256,
        forwarded_at=body.forwarded_at,
        accepted_at=now,
    )
    with one_writer(session):
        session.add(
            DeliveryRow(
                packet_id=packet_id,
                report_id=report_id,
                recipient_id=body.to_recipient_id,
                rules=FORWARD_RULE,
                state=DeliveryState.pending,
                packet=envelope.model_dump_json(),
                sealed_sha256=sealed_sha256,
                recipient_key_id=body.to_key_id,
                created_at=now,
                next_attempt_at=now,
                window_start=now,
            )
        )
        session.flush()
        session.add(row)
        record(
            session,
            ForwardAccepted(
                report_id=report_id,
                forward_id=str(body.forward_id),
                packet_id=packet_id,
                from_recipient_id=caller_id,
                recipient_id=body.to_recipient_id,
                recipient_key_id=body.to_key_id,
                forwarder_key_id=signer_id,
                forward_sha256=forward_sha256,
                sealed_sha256=sealed_sha256,
                hub_key_id=hub_key_id,
            ),
            at=now,
        )
        record(
            session,
            PacketSealed(
                report_id=report_id,
                packet_id=packet_id,
                recipient_id=body.to_recipient_id,
                recipient_key_id=body.to_key_id,
                sealed_sha256=sealed_sha256,
                hub_key_id=hub_key_id,
            ),
            at=now,
        )
        session.commit()
    log.info(
        "forward_accepted",
        report_id=report_id,
        forward_id=str(body.forward_id),
        packet_id=packet_id,
        from_recipient_id=caller_id,
        to_recipient_id=body.to_recipient_id,
    )
    return _answer(row, body.report_id)


def _forwarded_key(
    session: Session, caller_id: str, body: ForwardBody, hub_keys: Mapping[str, VerifyKey]
) -> str:
    """The key of the report a forward passes on: the caller's received copy of that id.

    If the caller received the id from several sources, the hub's commitment in the forward
    says which: its root is the one the hub acknowledged to that report's source. Raises
    NotFound if the caller holds no such copy, Conflict if none or several match.
    """
    keys = received_keys(session, recipient_id=caller_id, report_id=str(body.report_id))
    if len(keys) == 1:
        return keys[0]
    if not keys:
        raise NotFound(f"no verified receipt of report {body.report_id} by {caller_id}")
    try:
        root = verify_commitment(body.commitment, hub_keys).root
    except PacketInvalid as exc:
        raise InvalidInput.at("forward.commitment", "not the hub's commitment") from exc
    matching = [key for key in keys if _acknowledged_root(session, key) == root]
    if len(matching) != 1:
        raise Conflict(f"{caller_id} received report {body.report_id} from several sources")
    return matching[0]


def _acknowledged_root(session: Session, key: str) -> str | None:
    """The commitment root the hub acknowledged to the source of the report keyed `key`."""
    report = session.get(ReportRow, key)
    if report is None:
        return None
    envelope = json.loads(report.answer)["acknowledgement"]
    root: str | None = json.loads(base64.b64decode(envelope["payload"])).get("commitment_root")
    return root


def _answer(row: ForwardRow, report_id: UUID) -> ForwardAnswer:
    return ForwardAnswer(
        forward_id=UUID(row.forward_id),
        report_id=report_id,
        to_recipient_id=row.to_recipient_id,
        accepted_at=row.accepted_at,
    )


def record_copy_deleted(
    session: Session,
    *,
    caller_id: str,
    report_id: str,
    deletion: CopyDeletion,
    now: datetime,
    source_id: str | None = None,
) -> CopyDeletionAnswer:
    """Record that the caller deleted its copy of a report it received; a repeat is harmless.

    `source_id` says whose report it is when the caller received `report_id` from several
    sources. Raises NotFound if the caller holds no verified receipt for the report, Conflict if
    it must name the source.
    """
    named = report_id
    report_id = key_of_received_report(
        session, recipient_id=caller_id, report_id=named, source_id=source_id
    )
    row = session.get(CopyDeletionRow, (report_id, caller_id))
    if row is None:
        row = CopyDeletionRow(
            report_id=report_id,
            recipient_id=caller_id,
            reason=deletion.reason,
            deleted_at=deletion.deleted_at,
            recorded_at=now,
        )
        with one_writer(session):
            session.add(row)
            record(
                session,
                CopyDeleted(
                    report_id=report_id,
                    recipient_id=caller_id,
                    reason=deletion.reason,
                    deleted_at=deletion.deleted_at,
                ),
                at=now,
            )
            session.commit()
        log.info("copy_deleted", report_id=report_id, recipient_id=caller_id)
    return CopyDeletionAnswer(
        report_id=UUID(named),
        recipient_id=row.recipient_id,
        deleted_at=row.deleted_at,
        recorded_at=row.recorded_at,
    )
