"""Key rotation and revocation for recipients.

Rotation: a recipient registers a new key with a start time; packets sealed from then on use
it, and the connector keeps the old private key to open older packets. Revocation: the key is
never used again. Packets already sealed to a revoked sealing key and not yet delivered are held
(`awaiting_reseal`): the hub cannot seal them again by itself, because it never keeps a readable
report. The source sees them at GET /v1/reseal-requests and sends the same report again; intake
checks that it is the content it acknowledged and seals it to the recipient's current key.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from hub.audit.records import record_held
from hub.delivery.state import DeliveryState
from hub.logs import get_logger
from hub.network.directory import KeyPurpose, has_current_key, revoke_key
from hub.store import DeliveryRow, ReportRow

log = get_logger(__name__)


def revoke(session: Session, key_id: str, now: datetime) -> list[str]:
    """Revoke a recipient key; for a sealing key, hold its undelivered packets for resealing.

    Returns the ids of the held packets. Raises NotFound for an unknown key, Conflict for one
    already revoked.
    """
    key = revoke_key(session, key_id, now)
    held: list[str] = []
    if key.purpose == KeyPurpose.sealing:
        undelivered = [DeliveryState.pending, DeliveryState.dead]
        held = list(
            session.exec(
                select(DeliveryRow.packet_id)
                .where(DeliveryRow.recipient_key_id == key_id)
                .where(col(DeliveryRow.state).in_(undelivered))
            ).all()
        )
        session.execute(
            update(DeliveryRow)
            .where(col(DeliveryRow.packet_id).in_(held))
            .values(state=DeliveryState.awaiting_reseal, lease_until=None)
        )
        record_held(
            session,
            session.exec(select(DeliveryRow).where(col(DeliveryRow.packet_id).in_(held))).all(),
            key_id,
            now,
        )
    session.commit()
    log.warning(
        "key_revoked",
        key_id=key_id,
        recipient_id=key.recipient_id,
        purpose=key.purpose,
        held_packet_ids=held,
    )
    if not has_current_key(session, key.recipient_id, KeyPurpose(key.purpose), now):
        log.warning(
            "recipient_without_current_key", recipient_id=key.recipient_id, purpose=key.purpose
        )
    return held


def reseal_requests(session: Session, source_id: str) -> list[str]:
    """The ids (the source's own) of this source's reports with packets waiting to be sealed
    again."""
    rows = session.exec(
        select(ReportRow.report_id)
        .join(DeliveryRow, col(ReportRow.id) == col(DeliveryRow.report_id))
        .where(ReportRow.source_id == source_id)
        .where(DeliveryRow.state == DeliveryState.awaiting_reseal)
        .distinct()
        .order_by(col(ReportRow.report_id))
    ).all()
    return list(rows)
