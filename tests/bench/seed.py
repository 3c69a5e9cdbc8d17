"""Stored history for the flat-cost measurement: reports whose deliveries were receipted and
whose sealed bytes were purged, as a hub's store looks after a while. Inserted in bulk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from sqlalchemy import insert, text

from hub.store import DeliveryRow, ReportRow, make_engine

RECEIPT = '{"payload":"' + "A" * 320 + '","payloadType":"receipt","signatures":[]}'
BATCH = 10_000


def seed_history(url: str, count: int, recipients: list[str], source: str) -> None:
    """Insert `count` delivered, purged reports with a delivery to each of `recipients`."""
    engine = make_engine(url)
    when = datetime.now(UTC) - timedelta(days=60)
    reports = ReportRow.__table__  # type: ignore[attr-defined]
    deliveries = DeliveryRow.__table__  # type: ignore[attr-defined]
    for start in range(0, count, BATCH):
        report_rows, delivery_rows = [], []
        for _ in range(min(BATCH, count - start)):
            report_id = str(uuid4())
            report_rows.append(
                {"id": report_id, "source_id": source, "accepted_at": when,
                 "content_mac": "0" * 64, "answer": "{}"}
            )  # fmt: skip
            for recipient in recipients:
                delivery_rows.append(
                    {
                        "packet_id": str(uuid4()), "report_id": report_id,
                        "recipient_id": recipient, "rules": "suspect-nationality",
                        "state": "delivered", "packet": None, "sealed_sha256": "0" * 64,
                        "recipient_key_id": "x25519:" + "0" * 32, "created_at": when,
                        "lease_until": None, "pulls": 1, "attempts": 0, "next_attempt_at": when,
                        "window_start": when, "last_error": None, "delivered_at": when,
                        "dead_at": None, "purged_at": when, "receipt": RECEIPT,
                    }
                )  # fmt: skip
        with engine.begin() as connection:
            connection.execute(insert(reports), report_rows)
            connection.execute(insert(deliveries), delivery_rows)
    # Fresh planner statistics, as autovacuum (or SQLite's optimizer) would have after a while:
    # a plan made for an empty table is not what a store of this size runs with.
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))
    engine.dispose()
