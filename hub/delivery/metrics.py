"""Prometheus metrics at GET /metrics.

Counts that hold for the whole fleet (reports accepted, deliveries by state and recipient,
retries, dead letters, and the figures the alert rules watch: hub.delivery.watch) are read from
the database at scrape time, so every hub process reports the same figures. The latency
histogram is per process: each observes the receipts it records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, case, func
from sqlmodel import Session, col, select

from hub.delivery.watch import WatchCollector
from hub.store import DeliveryRow, ReportRow

LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 86400, 172800)


class _StoreCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        reports = CounterMetricFamily("hub_reports_accepted", "Reports the hub accepted.")
        states = GaugeMetricFamily(
            "hub_deliveries", "Deliveries by state and recipient.", labels=["state", "recipient"]
        )
        retries = CounterMetricFamily("hub_push_retries", "Push attempts after the first.")
        dead = GaugeMetricFamily("hub_dead_letters", "Deliveries that are dead now.")
        with Session(self.engine) as session:
            reports.add_metric([], session.exec(select(func.count()).select_from(ReportRow)).one())
            rows = session.exec(
                select(DeliveryRow.state, DeliveryRow.recipient_id, func.count()).group_by(
                    DeliveryRow.state, DeliveryRow.recipient_id
                )
            ).all()
            extra = case((col(DeliveryRow.attempts) > 1, col(DeliveryRow.attempts) - 1), else_=0)
            retries.add_metric([], session.exec(select(func.coalesce(func.sum(extra), 0))).one())
        for state, recipient, count in rows:
            states.add_metric([state, recipient], count)
        dead.add_metric([], sum(count for state, _, count in rows if state == "dead"))
        yield from (reports, states, retries, dead)


class Metrics:
    """The metrics of one hub process, in a registry of its own."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        high_water: Path | None = None,
    ) -> None:
        """`clock` dates the ages the alert rules watch; `high_water` is the newest signed
        head's file beside the hub's key (Settings.signed_head_file)."""
        self.registry = CollectorRegistry()
        self.registry.register(_StoreCollector(engine))
        self.registry.register(WatchCollector(engine, clock, high_water))
        self.latency = Histogram(
            "hub_delivery_latency_seconds",
            "Time from intake to the verified receipt, as recorded by this process.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe_deliveries(self, latencies: Iterable[timedelta]) -> None:
        for latency in latencies:
            self.latency.observe(max(latency.total_seconds(), 0.0))

    def render(self) -> bytes:
        return generate_latest(self.registry)
