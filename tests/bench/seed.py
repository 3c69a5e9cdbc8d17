"""Stored history for the flat-cost measurement: reports whose deliveries were receipted and
whose sealed bytes were purged, with their audit entries and a signed tree head over them, as a
hub's store looks after a while. Inserted in bulk."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from nacl.signing import SigningKey
from sqlalchemy import Engine, insert, select, text, update

from hub import merkle
from hub.crypto import sign_envelope
from hub.store import (
    AuditEntryRow,
    AuditLogRow,
    DeliveryRow,
    ReportRow,
    TreeHeadRow,
    make_engine,
)
from schemas.envelope import TREE_HEAD_TYPE, TreeHeadBody

RECEIPT = '{"payload":"' + "A" * 320 + '","payloadType":"receipt","signatures":[]}'
BATCH = 10_000
# What intake, a pull and a receipt record for a report: accepted, routed, then per delivery
# sealed, pulled and receipt verified.
REPORT_KINDS = ("report_accepted", "report_routed")
DELIVERY_KINDS = ("packet_sealed", "packet_pulled", "receipt_verified")

_REPORTS = ReportRow.__table__  # type: ignore[attr-defined]
_DELIVERIES = DeliveryRow.__table__  # type: ignore[attr-defined]
_ENTRIES = AuditEntryRow.__table__  # type: ignore[attr-defined]
_LOG = AuditLogRow.__table__  # type: ignore[attr-defined]
_HEADS = TreeHeadRow.__table__  # type: ignore[attr-defined]


def seed_history(
    url: str, count: int, recipients: list[str], source: str, hub_key: SigningKey
) -> None:
    """Insert `count` delivered, purged reports with a delivery to each of `recipients`, their
    audit entries after the log's current ones, and a tree head signed over the whole log."""
    engine = make_engine(url)
    when = datetime.now(UTC) - timedelta(days=60)
    frontier = _frontier(engine)
    for start in range(0, count, BATCH):
        report_rows, delivery_rows, entry_rows = [], [], []
        for _ in range(min(BATCH, count - start)):
            report_id = str(uuid4())
            report_rows.append(
                {"id": report_id, "report_id": report_id, "source_id": source, "accepted_at": when,
                 "content_mac": "0" * 64, "answer": "{}"}
            )  # fmt: skip
            events: list[tuple[str, tuple[str, str] | None]] = [
                (kind, None) for kind in REPORT_KINDS
            ]
            for recipient in recipients:
                packet_id = str(uuid4())
                delivery_rows.append(
                    {
                        "packet_id": packet_id, "report_id": report_id,
                        "recipient_id": recipient, "rules": "suspect-nationality",
                        "state": "delivered", "packet": None, "sealed_sha256": "0" * 64,
                        "recipient_key_id": "x25519:" + "0" * 32, "created_at": when,
                        "lease_until": None, "pulls": 1, "attempts": 0, "next_attempt_at": when,
                        "window_start": when, "last_error": None, "delivered_at": when,
                        "dead_at": None, "purged_at": when, "receipt": RECEIPT,
                    }
                )  # fmt: skip
                events += [(kind, (recipient, packet_id)) for kind in DELIVERY_KINDS]
            for kind, delivery in events:
                entry, leaf = _entry(frontier.size, kind, report_id, delivery, when)
                entry_rows.append(entry)
                frontier.append(leaf)
        with engine.begin() as connection:
            connection.execute(insert(_REPORTS), report_rows)
            connection.execute(insert(_DELIVERIES), delivery_rows)
            connection.execute(insert(_ENTRIES), entry_rows)
            connection.execute(update(_LOG).where(_LOG.c.id == 1).values(size=frontier.size))
    _sign(engine, frontier, hub_key)
    # Fresh planner statistics, as autovacuum (or SQLite's optimizer) would have after a while:
    # a plan made for an empty table is not what a store of this size runs with.
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))
    engine.dispose()


def _frontier(engine: Engine) -> merkle.Frontier:
    """The frontier of the entries already stored (few: the directory and earlier phases)."""
    frontier = merkle.Frontier()
    with engine.connect() as connection:
        rows = connection.execute(select(_ENTRIES.c.leaf_hash).order_by(_ENTRIES.c.leaf_index))
        for (hexed,) in rows:
            frontier.append(bytes.fromhex(hexed))
    return frontier


def _entry(
    index: int, kind: str, report_id: str, delivery: tuple[str, str] | None, at: datetime
) -> tuple[dict[str, object], bytes]:
    """An entry's row and its leaf hash."""
    event: dict[str, object] = {"report_id": report_id}
    if delivery is not None:
        event |= {"recipient_id": delivery[0], "packet_id": delivery[1]}
    entry = json.dumps(
        {"v": 1, "index": index, "at": at.isoformat(), "kind": kind, "event": event},
        sort_keys=True,
        separators=(",", ":"),
    )
    leaf = merkle.leaf_hash(entry.encode())
    row = {
        "leaf_index": index,
        "at": at,
        "kind": kind,
        "report_id": report_id,
        "recipient_id": delivery[0] if delivery else None,
        "entry": entry,
        "leaf_hash": leaf.hex(),
    }
    return row, leaf


def _sign(engine: Engine, frontier: merkle.Frontier, hub_key: SigningKey) -> None:
    now = datetime.now(UTC)
    body = TreeHeadBody(tree_size=frontier.size, root_hash=frontier.root().hex(), timestamp=now)
    with engine.begin() as connection:
        connection.execute(
            insert(_HEADS),
            {
                "tree_size": frontier.size,
                "root_hash": body.root_hash,
                "signed_at": now,
                "envelope": sign_envelope(TREE_HEAD_TYPE, body, hub_key).model_dump_json(),
                "frontier": json.dumps(frontier.hashes()),
            },
        )
