"""The recipients' routes: lease undelivered packets, send signed receipts for them."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from hub.delivery.state import Inbox, ReceiptBatch, ReceiptOutcome, lease_packets, record_receipts
from hub.http.deps import Recipient, SessionDep, StateDep, inbox_rate, limited, receipts_rate

__all__ = ["router"]

router = APIRouter()


@router.get(
    "/v1/inbox",
    response_model=Inbox,
    responses=limited("HUB_INBOX_RATE_LIMIT"),
    dependencies=[Depends(inbox_rate)],
    tags=["recipients"],
)
def inbox(
    session: SessionDep,
    state: StateDep,
    caller: Recipient,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
) -> Inbox:
    """Lease the caller's undelivered packets; unreceipted ones are offered again later."""
    return lease_packets(
        session,
        recipient_id=caller.id,
        now=state.clock(),
        lease=timedelta(seconds=state.settings.lease_seconds),
        limit=min(limit or state.settings.inbox_limit, state.settings.inbox_limit),
    )


@router.post(
    "/v1/receipts",
    response_model=ReceiptOutcome,
    responses=limited("HUB_RECEIPTS_RATE_LIMIT"),
    dependencies=[Depends(receipts_rate)],
    tags=["recipients"],
)
def receipts(
    batch: ReceiptBatch,
    session: SessionDep,
    state: StateDep,
    caller: Recipient,
) -> ReceiptOutcome:
    """Record signed receipts; all are verified before any is recorded."""
    recorded = record_receipts(session, recipient_id=caller.id, batch=batch, now=state.clock())
    state.metrics.observe_deliveries(recorded.latencies)
    return recorded.outcome
