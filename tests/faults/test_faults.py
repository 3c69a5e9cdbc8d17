"""Fault tests with real processes on loopback. `make test` runs them with small counts;
`make faults` with the counts of issue 4 (2,000 reports, 10 SIGKILLs)."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from hub.settings import Settings
from tests.conftest import provision
from tests.faults.audit_check import audit_log_verdict
from tests.faults.harness import (
    FaultProxy,
    Submitter,
    check_exactly_once,
    free_port,
    hub_process,
    make_push_recipient,
    pulling,
    receiver_process,
    redeliveries,
    running,
    sample_bodies,
    undelivered,
    wait_until,
)

PUSH = ["at-police", "be-police", "de-police", "nl-police"]
PULL = ["at-section", "be-section", "de-section", "nl-section", "network-coordinator"]

pytestmark = pytest.mark.faults


def test_nothing_is_lost_or_duplicated_when_the_hub_is_killed_mid_delivery(
    settings: Settings,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    fault_figures: list[dict[str, Any]],
) -> None:
    reports = request.config.getoption("fault_reports")
    kills = request.config.getoption("fault_kills")
    port = free_port()
    hub = hub_process(settings, port, tmp_path / "hub.log")
    network = provision(settings, tmp_path / "parties", hub.url)
    receivers = []
    for recipient in PUSH:
        receiver_port = free_port()
        config = make_push_recipient(
            settings, network, recipient, f"http://127.0.0.1:{receiver_port}/packets"
        )
        receivers.append(receiver_process(config, receiver_port, tmp_path / f"{recipient}.log"))
    submitter = Submitter(hub.url, network, sample_bodies(reports, seed=reports))
    rng = random.Random(kills)
    started = time.monotonic()
    with running(*receivers, hub):
        with pulling(network, PULL) as tally:
            loader = threading.Thread(target=submitter.run, name="submitter")
            loader.start()
            for _ in range(kills):
                time.sleep(rng.uniform(0.2, 1.5))
                hub.kill()
                hub.start()
            loader.join(timeout=600)
            assert not loader.is_alive()
            wait_until(lambda: undelivered(settings) == 0, 180, "every delivery receipted")
        drained = time.monotonic() - started
        figures = check_exactly_once(settings, network, submitter.acknowledged)
    again = redeliveries(settings, [tmp_path / f"{r}.log" for r in PUSH], tally)
    assert len(submitter.acknowledged) == reports
    audit_log = audit_log_verdict(settings)  # appends cut short by SIGKILL left no gap or damage
    assert audit_log.verified, audit_log.problems[:5]
    fault_figures.append(
        {
            "test": "hub SIGKILLed mid-delivery",
            "engine": settings.resolved_database_url.split(":", 1)[0],
            "reports": reports,
            "kills": kills,
            "resubmissions": submitter.resubmissions,
            **figures,
            **again,
            "audit_entries": audit_log.entries,
            "seconds": round(drained, 1),
        }
    )


def test_a_push_recipient_down_then_slow_then_failing_then_back_gets_everything_once(
    settings: Settings,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    fault_figures: list[dict[str, Any]],
) -> None:
    reports = max(request.config.getoption("fault_reports") // 10, 20)
    port = free_port()
    hub = hub_process(settings, port, tmp_path / "hub.log")
    network = provision(settings, tmp_path / "parties", hub.url)
    receiver_port, proxy_port = free_port(), free_port()
    config = make_push_recipient(
        settings, network, "nl-police", f"http://127.0.0.1:{proxy_port}/packets"
    )
    receiver = receiver_process(config, receiver_port, tmp_path / "nl-police.log")
    proxy = FaultProxy(receiver.url, slow_seconds=4.0)  # longer than the push timeout
    bodies = [b for b in sample_bodies(reports * 3, seed=1) if "NL" in str(b["suspects"])][:reports]
    submitter = Submitter(hub.url, network, bodies)
    started = time.monotonic()
    pullers = [r for r in network.recipient_ids if r != "nl-police"]
    with running(receiver, hub):
        with pulling(network, pullers) as tally:
            submitter.run()  # the proxy is not there: the recipient is down
            time.sleep(1.0)
            with proxy.serving(proxy_port):
                # Each mode holds until pushes have met it, so none is skipped by timing.
                proxy.mode = "slow"
                time.sleep(5.0)
                wait_until(lambda: proxy.met["slow"] >= 2, 60, "pushes to meet a slow recipient")
                proxy.mode = "error"
                time.sleep(1.5)
                wait_until(lambda: proxy.met["error"] >= 2, 60, "pushes to meet a 500")
                proxy.mode = "pass"
                wait_until(lambda: undelivered(settings) == 0, 300, "every delivery receipted")
        figures = check_exactly_once(settings, network, submitter.acknowledged)
    again = redeliveries(settings, [tmp_path / "nl-police.log"], tally)
    assert proxy.met["slow"] >= 2, proxy.met
    assert proxy.met["error"] >= 2, proxy.met
    assert again["pushes_retried"] > 0, "the outage made the hub retry no push"
    fault_figures.append(
        {
            "test": "push recipient down, slow, 500, back",
            "engine": settings.resolved_database_url.split(":", 1)[0],
            "reports": reports,
            "pushes_through_proxy": proxy.forwarded,
            "pushes_met_slow": proxy.met["slow"],
            "pushes_met_error": proxy.met["error"],
            **figures,
            **again,
            "seconds": round(time.monotonic() - started, 1),
        }
    )
