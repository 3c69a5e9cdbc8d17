"""The figures the alert rules watch (deploy/prometheus/alerts.yml), read at scrape time.

Each comes from the database (or, for the newest signed head's size, from the file beside the
hub's key), so every hub process reports the same figure, and ages are taken on the clock the app
was given. An age with nothing to measure yet (no verification, no signed tree head) is +Inf: the
rules wait their `for:` before they call that stale, so a new hub is given its first interval.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from hub.audit.high_water import signed_size
from hub.audit.log import last_check
from hub.store import AuditEntryRow, CredentialRow, DeliveryRow, TreeHeadRow

__all__ = ["UNDELIVERED", "UNRECEIPTED_PULLS", "WatchCollector"]

# Deliveries a recipient can still take: their age is what S2 (48 hours) measures.
UNDELIVERED = ("pending", "leased")
# Pulled this often and never receipted: the recipient's connector refuses the packet (a hub key
# it does not trust, a key it lacks), since a connector that opens one receipts it at once.
UNRECEIPTED_PULLS = 3


def _age(now: datetime, then: datetime | None) -> float:
    return math.inf if then is None else max((now - then).total_seconds(), 0.0)


class WatchCollector(Collector):
    """Audit verification and signing, undelivered and refused packets, refused receipts and
    credentials near their expiry."""

    def __init__(
        self, engine: Engine, clock: Callable[[], datetime], high_water: Path | None = None
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.high_water = high_water

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        with Session(self.engine) as session:
            yield from self._audit(session, now)
            yield from self._deliveries(session, now)
            yield from self._receipts(session)
            yield from self._credentials(session, now)

    def _audit(self, session: Session, now: datetime) -> Iterator[Metric]:
        check = last_check(session)
        yield _gauge(
            "hub_audit_verification_age_seconds",
            "Seconds since the whole audit log was last verified (+Inf: never).",
            _age(now, check.checked_at if check else None),
        )
        if check is not None:
            yield _gauge(
                "hub_audit_verification_ok",
                "1 if the last verification of the audit log found nothing wrong, else 0.",
                1.0 if check.verified else 0.0,
            )
        signed_at, head_size = session.exec(
            select(TreeHeadRow.signed_at, TreeHeadRow.tree_size).order_by(
                col(TreeHeadRow.tree_size).desc()
            )
        ).first() or (None, 0)
        newest = session.exec(select(func.max(AuditEntryRow.leaf_index))).one()
        entries = 0 if newest is None else newest + 1
        yield _gauge(
            "hub_audit_tree_head_age_seconds",
            "Seconds since the newest signed tree head was signed (+Inf: none yet).",
            _age(now, signed_at),
        )
        yield _gauge("hub_audit_entries", "Entries in the audit log.", entries)
        yield _gauge(
            "hub_audit_unsigned_entries",
            "Entries newer than the newest signed tree head, not yet covered by a signature.",
            max(entries - head_size, 0),
        )
        if self.high_water is not None:
            yield _gauge(
                "hub_audit_signed_high_water",
                "Size of the newest tree head this hub signed, kept beside its key: above "
                "hub_audit_entries, the database was restored from before it.",
                signed_size(self.high_water),
            )

    def _deliveries(self, session: Session, now: datetime) -> Iterator[Metric]:
        undelivered = col(DeliveryRow.state).in_(UNDELIVERED)
        oldest = session.exec(select(func.min(DeliveryRow.created_at)).where(undelivered)).one()
        yield _gauge(
            "hub_oldest_undelivered_age_seconds",
            "Age of the oldest delivery not yet receipted, pending or leased (0: none).",
            0.0 if oldest is None else _age(now, oldest),
        )
        refused = GaugeMetricFamily(
            "hub_packets_unreceipted_after_pulls",
            f"Deliveries pulled {UNRECEIPTED_PULLS} times or more and never receipted: the "
            "recipient's connector rejects the packet.",
            labels=["recipient"],
        )
        rows = session.exec(
            select(DeliveryRow.recipient_id, func.count())
            .where(undelivered, col(DeliveryRow.pulls) >= UNRECEIPTED_PULLS)
            .group_by(DeliveryRow.recipient_id)
        ).all()
        for recipient, count in rows:
            refused.add_metric([recipient], count)
        yield refused

    def _receipts(self, session: Session) -> Iterator[Metric]:
        rejected = CounterMetricFamily(
            "hub_receipts_rejected",
            "Receipts the hub refused (a bad signature, another packet, another digest), by "
            "recipient, from the audit log.",
            labels=["recipient"],
        )
        counts: dict[str, int] = {}
        for recipient, entry in session.exec(
            select(AuditEntryRow.recipient_id, AuditEntryRow.entry).where(
                AuditEntryRow.kind == "receipt_rejected"
            )
        ).all():
            counts[recipient or ""] = counts.get(recipient or "", 0) + int(
                json.loads(entry).get("count", 1)
            )
        for recipient, count in sorted(counts.items()):
            rejected.add_metric([recipient], count)
        yield rejected

    def _credentials(self, session: Session, now: datetime) -> Iterator[Metric]:
        expiring = GaugeMetricFamily(
            "hub_credential_expires_in_seconds",
            "Seconds until a credential in use expires (negative: expired, neither rotated nor "
            "revoked). Credentials without an expiry are not listed.",
            labels=["credential_id", "role", "principal"],
        )
        rows = session.exec(
            select(CredentialRow).where(
                col(CredentialRow.expires_at).is_not(None),
                col(CredentialRow.revoked_at).is_(None),
                col(CredentialRow.rotated_at).is_(None),
            )
        ).all()
        for row in rows:
            if row.expires_at is not None:
                left = (row.expires_at - now).total_seconds()
                expiring.add_metric([row.credential_id, row.role, row.principal_id], left)
        yield expiring


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)
