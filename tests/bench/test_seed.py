"""The bench's stored history is what the store accepts: `make bench` is not part of `make test`,
so this is what catches a schema change that the seeder did not follow."""

from __future__ import annotations

from nacl.signing import SigningKey
from sqlmodel import Session, func, select

from hub.store import AuditEntryRow, DeliveryRow, ReportRow, make_engine
from tests.bench.seed import DELIVERY_KINDS, REPORT_KINDS, seed_history
from tests.conftest import Network


def test_seeding_history_twice_stores_every_report_with_its_deliveries_and_entries(
    database_url: str, network: Network
) -> None:
    recipients = network.recipient_ids[:2]
    engine = make_engine(database_url)
    with Session(engine) as session:
        entries_before = session.exec(select(func.count()).select_from(AuditEntryRow)).one()
    for _ in range(2):
        seed_history(database_url, 3, recipients, "portal-nl", SigningKey.generate())
    with Session(engine) as session:
        reports = session.exec(select(ReportRow).where(ReportRow.source_id == "portal-nl")).all()
        deliveries = session.exec(select(func.count()).select_from(DeliveryRow)).one()
        entries = session.exec(select(func.count()).select_from(AuditEntryRow)).one()
    engine.dispose()
    assert len(reports) == 6
    assert all(report.report_id == report.id for report in reports)
    assert deliveries == 6 * len(recipients)
    per_report = len(REPORT_KINDS) + len(DELIVERY_KINDS) * len(recipients)
    assert entries - entries_before == 6 * per_report
