"""Retention: sealed bytes are purged a while after their receipt; what proves delivery stays.

A delivered packet's ciphertext is dropped `retention` after its receipt, a dead one's after the
longer `dead_retention`. A packet held after its sealing key was revoked (`awaiting_reseal`) is
dropped at the next run: it can never be delivered, and the revoked key may be in other hands.
Receipts, times, states and routing rules are kept for audit. SQLite overwrites what it frees
(secure_delete), so purged bytes do not linger in free pages.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, update
from sqlmodel import Session, col, select

from hub.audit.records import record_purged
from hub.delivery.state import DeliveryState
from hub.logs import get_logger
from hub.store import DeliveryRow

log = get_logger(__name__)


def purge_due(
    session: Session, *, now: datetime, retention: timedelta, dead_retention: timedelta
) -> int:
    """Drop the sealed bytes of every delivery past its retention; return how many."""
    due = or_(
        and_(
            col(DeliveryRow.state) == DeliveryState.delivered,
            col(DeliveryRow.delivered_at) <= now - retention,
        ),
        and_(
            col(DeliveryRow.state) == DeliveryState.dead,
            col(DeliveryRow.dead_at) <= now - dead_retention,
        ),
        col(DeliveryRow.state) == DeliveryState.awaiting_reseal,
    )
    rows = session.exec(
        select(DeliveryRow).where(col(DeliveryRow.packet).is_not(None)).where(due)
    ).all()
    result = session.execute(
        update(DeliveryRow)
        .where(col(DeliveryRow.packet).is_not(None))
        .where(due)
        .values(packet=None, purged_at=now)
        .execution_options(synchronize_session=False)
    )
    record_purged(session, rows, now)
    session.commit()
    purged: int = result.rowcount  # type: ignore[attr-defined]
    if purged:
        log.info("packets_purged", count=purged)
    return purged
