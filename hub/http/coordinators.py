"""The coordinators' delivery routes: where a report's packets are, the dead letters, a re-drive."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel

from hub.delivery.state import (
    DeliveryState,
    DeliveryStatus,
    ReportDeliveries,
    deliveries_in_state,
    redrive,
    report_deliveries,
)
from hub.http.deps import Coordinator, SessionDep, StateDep
from hub.http.problems import Problem

__all__ = ["Redriven", "router"]

router = APIRouter()


class Redriven(BaseModel):
    """The deliveries given a new retry window."""

    packet_ids: list[str]


@router.get(
    "/v1/reports/{report_id}/deliveries",
    response_model=ReportDeliveries,
    responses={404: {"model": Problem, "description": "No such report"}},
    tags=["coordinators"],
)
def deliveries(
    report_id: UUID,
    session: SessionDep,
    state: StateDep,
    _caller: Coordinator,
) -> ReportDeliveries:
    """Where each packet of a report is: state, times and receipt; never content. The report is
    named by the hub's report key (docs/protocol.md §4)."""
    return report_deliveries(session, report_id=str(report_id), now=state.clock())


@router.get("/v1/deliveries", response_model=list[DeliveryStatus], tags=["coordinators"])
def deliveries_by_state(
    session: SessionDep,
    state: StateDep,
    _caller: Coordinator,
    delivery_state: Annotated[DeliveryState, Query(alias="state")] = DeliveryState.dead,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeliveryStatus]:
    """Deliveries in one state, oldest first: by default the dead letters."""
    return deliveries_in_state(session, state=delivery_state, now=state.clock(), limit=limit)


@router.post(
    "/v1/deliveries/{packet_id}/retry",
    response_model=Redriven,
    responses={404: {"model": Problem, "description": "Not dead, or purged"}},
    tags=["coordinators"],
)
def retry_delivery(
    packet_id: UUID,
    session: SessionDep,
    state: StateDep,
    _caller: Coordinator,
) -> Redriven:
    """Re-drive a dead delivery: a new retry window starts now."""
    return Redriven(
        packet_ids=redrive(
            session, packet_ids=[str(packet_id)], now=state.clock(), actor=_caller.id
        )
    )
