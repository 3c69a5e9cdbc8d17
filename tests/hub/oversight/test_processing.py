"""Processing time (issue 14, point 5; standard S2): clock hours from intake to the first triage
decision, per country, exact across weekends and public holidays (48 hours are not two working
days), in the API for coordinators and in S2's verdict once decisions exist."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub.oversight.processing import processing_hours
from tests.clock import SUITE_DATES
from tests.conftest import Clock, Network
from tests.hub.oversight.test_quality import hub, receive, submit, verdicts

__all__ = ["hub"]  # the fixture, from the quality tests: keys valid all year, no jobs

COORDINATOR = "network-coordinator"


def _at(name: str, hour: int) -> datetime:
    day = SUITE_DATES[name]
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


# (intake, decision, clock hours): weekends and holidays count hour for hour.
TABLE = [
    # Friday evening to Monday evening: 72 hours, though less than one working day apart.
    (_at("friday", 17), _at("friday", 17) + timedelta(days=3), 72.0),
    # Christmas Eve to Boxing Day (holidays in every member country): within 48 hours.
    (_at("christmas-eve", 10), _at("boxing-day", 9), 47.0),
    # Good Friday (a holiday in DE) to Easter Sunday: exactly 48 hours, the limit itself.
    (_at("de-good-friday", 8), _at("de-good-friday", 8) + timedelta(days=2), 48.0),
    # Across the end of summer time: clock hours in UTC, not wall-clock hours in Vienna.
    (_at("end-of-summer-time", 0) - timedelta(hours=12), _at("end-of-summer-time", 12), 24.0),
    # A national holiday mid-week (AT, BE, NL), a day and a half.
    (_at("at-national-day", 6), _at("at-national-day", 18) + timedelta(days=1), 36.0),
    (_at("be-national-day", 0), _at("be-national-day", 0) + timedelta(minutes=90), 1.5),
    (_at("nl-kings-day", 9), _at("nl-kings-day", 9) + timedelta(hours=49), 49.0),
]


@pytest.mark.parametrize(("intake", "decided", "hours"), TABLE)
def test_processing_time_is_clock_hours_across_weekends_and_holidays(
    intake: datetime, decided: datetime, hours: float
) -> None:
    assert processing_hours(intake, decided) == hours


def test_a_decision_a_little_before_intake_by_the_connectors_clock_counts_as_no_time() -> None:
    intake = _at("monday", 10)
    assert processing_hours(intake, intake - timedelta(minutes=2)) == 0.0


def decide(client: TestClient, network: Network, recipient: str, report_id: str, at: datetime,
           **codes: str) -> None:  # fmt: skip
    body: dict[str, Any] = {"decided_at": at.isoformat(), **codes}
    answer = client.post(
        f"/v1/reports/{report_id}/triage", json=body, headers=network.auth(recipient)
    )
    assert answer.status_code == 201, answer.text


FORWARD = {"decision": "forward", "classification": "sexual_exploitation_travel_tourism"}
CLOSE = {"decision": "close", "classification": "not_within_scope", "reason_code": "duplicate"}


def processing(client: TestClient, network: Network, country: str) -> dict[str, Any]:
    answer = client.get(
        f"/v1/processing-times?period=2026-Q4&country={country}",
        headers=network.auth(COORDINATOR),
    )
    assert answer.status_code == 200, answer.text
    [figures] = answer.json()["countries"]
    assert answer.json()["measured_to"] == "first triage decision"
    return dict(figures)


def test_the_48_hour_figure_is_exact_over_a_weekend_and_christmas_in_the_api_and_in_s2(
    hub: TestClient, network: Network, clock: Clock
) -> None:
    # A: intake on Friday 4 December at 17:00, decided on Monday at 16:00: 71 hours, late.
    clock.now = _at("friday", 17)
    weekend = submit(hub, network, "portal-nl", "NL")
    clock.advance(minutes=10)
    receive(hub, network, "nl-section")
    receive(hub, network, "nl-police")
    clock.now = _at("friday", 16) + timedelta(days=3)
    decide(hub, network, "nl-section", weekend, clock(), **FORWARD)
    # The police's later decision does not move the report's processing time.
    clock.advance(hours=30)
    decide(hub, network, "nl-police", weekend, clock(), **CLOSE)
    # B: intake on Christmas Eve at 10:00, decided on Boxing Day at 09:00: 47 hours, within.
    clock.now = _at("christmas-eve", 10)
    christmas = submit(hub, network, "portal-nl", "NL")
    receive(hub, network, "nl-section")
    clock.now = _at("boxing-day", 9)
    decide(hub, network, "nl-section", christmas, clock(), **FORWARD)
    # C: intake on 28 December at 10:00, undecided a day later: 24 hours so far, within.
    clock.now = _at("december-27", 10) + timedelta(days=1)
    waiting = submit(hub, network, "portal-nl", "NL")
    clock.advance(hours=24)

    figures = processing(hub, network, "NL")
    assert figures == {
        "country": "NL",
        "reports": 3,
        "decided": 2,
        "undecided": 1,
        "within_limit": 2,
        "share_within_limit": 0.6667,
        "p95_hours": 71.0,
        "late": [weekend],
    }
    s2 = verdicts(hub, network, "NL")["S2"]
    assert s2["verdict"] == "not_met"
    assert s2["evidence"]["figures"] == {
        "reports": 3,
        "within_limit": 2,
        "share": 0.6667,
        "p95_hours": 71.0,
        "not_yet_decided": 1,
        "measured_to": "first triage decision",
    }
    assert s2["evidence"]["records"] == [f"report:{weekend}"]
    assert waiting not in s2["evidence"]["records"]
    # A country whose recipients decided nothing yet is still measured to the first receipt.
    assert verdicts(hub, network, "AT")["S2"]["verdict"] == "unknown"


def test_processing_times_are_for_coordinators_only(hub: TestClient, network: Network) -> None:
    for party in ("nl-section", "nl-police", "portal-nl"):
        answer = hub.get("/v1/processing-times", headers=network.auth(party))
        assert answer.status_code == 403


def test_the_dashboard_shows_each_countrys_processing_times(
    hub: TestClient, network: Network, clock: Clock
) -> None:
    report_id = submit(hub, network, "portal-nl", "NL")
    receive(hub, network, "nl-section")
    clock.advance(hours=3)
    decide(hub, network, "nl-section", report_id, clock(), **FORWARD)
    page = hub.get("/dashboard/latency", headers=network.auth(COORDINATOR))
    assert page.status_code == 200
    row = page.text.split('<tr data-country="NL">', 1)[1].split("</tr>", 1)[0]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row)
    assert cells[:4] == ["NL", "1", "1", "0"]
    assert '<td class="share">100.0 %</td>' in row
    assert '<td class="p95">3.0 h</td>' in row
    assert report_id not in page.text  # figures, not report ids, on this page
