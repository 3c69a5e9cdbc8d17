"""Which report a caller means by a report id: ids are the sources' own, one namespace each.

A source chooses its reports' ids; two sources may choose the same one. The hub's tables name a
report by its key (`ReportRow.id`, hub/store.py). A source names its own reports: its id is
unique among them. A recipient names the reports it received, as their packets do: through its
own verified copies, so another report with the same id, held by others, is never seen. In the
rare case that a recipient holds two reports with the same id from two sources, it names the
source as well. Coordinators, who see the whole network, name a report by its key.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from hub.delivery.state import DeliveryState
from hub.errors import Conflict, NotFound
from hub.store import DeliveryRow, ReportRow

__all__ = ["key_of_own_report", "key_of_received_report", "received_keys"]


def key_of_own_report(session: Session, *, source_id: str, report_id: str) -> str:
    """The key of the report `source_id` sent as `report_id`.

    Raises NotFound if it sent none: another source's report with that id is not looked at.
    """
    key = session.exec(
        select(ReportRow.id)
        .where(ReportRow.source_id == source_id)
        .where(ReportRow.report_id == report_id)
    ).first()
    if key is None:
        raise NotFound(f"no report {report_id} from {source_id}")
    return key


def key_of_received_report(
    session: Session, *, recipient_id: str, report_id: str, source_id: str | None = None
) -> str:
    """The key of the report `report_id` of which `recipient_id` holds a verified receipt.

    `source_id` picks one when the recipient received reports with that id from several sources.
    Raises NotFound if the recipient holds no such copy, Conflict if it holds several and did
    not say which source's it means.
    """
    keys = received_keys(
        session, recipient_id=recipient_id, report_id=report_id, source_id=source_id
    )
    if not keys:
        raise NotFound(f"no verified receipt of report {report_id} by {recipient_id}")
    if len(keys) > 1:
        raise Conflict(
            f"{recipient_id} received report {report_id} from several sources: "
            "name the source (query parameter `source`)"
        )
    return keys[0]


def received_keys(
    session: Session, *, recipient_id: str, report_id: str, source_id: str | None = None
) -> list[str]:
    """The keys of the reports `report_id` (of `source_id`, if given) that `recipient_id` holds
    a verified receipt for: one, except when several sources chose the same id."""
    query = (
        select(ReportRow.id)
        .join(DeliveryRow, col(DeliveryRow.report_id) == col(ReportRow.id))
        .where(ReportRow.report_id == report_id)
        .where(DeliveryRow.recipient_id == recipient_id)
        .where(DeliveryRow.state == DeliveryState.delivered)
        .distinct()
    )
    if source_id is not None:
        query = query.where(ReportRow.source_id == source_id)
    return list(session.exec(query.order_by(col(ReportRow.id))).all())
