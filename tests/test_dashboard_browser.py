"""The coordinators' dashboard in a real browser: headless Chromium (Debian's package, driven by
Playwright with its executable path) against the hub over real HTTP on loopback.

Two weeks of traffic are played on a controlled clock: reports from every portal, pulled by their
recipients a few hours later, one left late, one made a dead letter. The test logs in with the
coordinator's token, opens every page, checks the figures shown against the API, clicks the
re-drive button, reads the annual report's figures and bars against the API (with triage
decisions and outcomes recorded through the store), and saves a screenshot of each page (in its
tmp_path and in var/screenshots/).
It runs once, on SQLite: what it checks is the browser's view, not the engine.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from playwright.sync_api import Page, Route, sync_playwright
from sqlalchemy import text
from sqlmodel import Session, col, select

from connectors.config import load_config
from connectors.recipient.pull import pull_until_empty
from hub.audit.verify import audit_round
from hub.http.app import create_app
from hub.http.server import serving
from hub.network.keyring import create_hub_keys, load_hub_secrets
from hub.oversight.quality import declare_demo
from hub.settings import Settings
from hub.store import DeliveryRow, OutcomeRow, TriageDecisionRow, make_engine, upgrade
from tests.conftest import ROOT, Clock, Network, provision
from tests.factories import copies_at_once_policy, report_body

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MARKER = "BROWSER-MARKER-e55a"
PORTALS = {"portal-at": "AT", "portal-be": "BE", "portal-de": "DE", "portal-nl": "NL"}


class Hub:
    """A hub on loopback with the demo network, a clock the test moves, and the API at hand."""

    def __init__(self, url: str, settings: Settings, network: Network, clock: Clock) -> None:
        self.url, self.settings, self.network, self.clock = url, settings, network, clock
        self.api = httpx.Client(base_url=url, headers=network.auth("network-coordinator"))

    def get(self, path: str) -> Any:
        answer = self.api.get(path)
        answer.raise_for_status()
        return answer.json()

    def submit(self, source: str, nationality: str) -> str:
        body = report_body(source, nationalities=(nationality,), free_text=MARKER)
        answer = httpx.post(f"{self.url}/v1/reports", json=body, headers=self.network.auth(source))
        assert answer.status_code == 202, answer.text
        return str(body["report_id"])

    def pull(self, recipient: str) -> None:
        pull_until_empty(load_config(self.network.connector_config(recipient)))

    def sql(self, statement: str, **params: Any) -> None:
        engine = make_engine(self.settings.resolved_database_url)
        with engine.begin() as connection:
            connection.execute(text(statement), params)
        engine.dispose()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    settings = Settings(
        data_dir=tmp_path / "hub-data",
        database_url=f"sqlite:///{tmp_path / 'hub.db'}",
        routing_policy=copies_at_once_policy(tmp_path),
        intake_rate_limit="100000/minute",
        audit_interval_seconds=3600,
    )
    upgrade(settings.resolved_database_url)
    create_hub_keys(settings, datetime.now(UTC) - timedelta(days=400))
    clock = Clock(now=a_monday_three_weeks_before(datetime.now(UTC)))
    with serving(create_app(settings, clock=clock)) as url:
        network = provision(settings, tmp_path / "parties", url)
        hub = Hub(url, settings, network, clock)
        yield hub
        hub.api.close()


def a_monday_three_weeks_before(today: datetime) -> datetime:
    """08:00 UTC on the Monday at least 20 days before `today` (the suite's date): the two weeks
    played then start and end on the same weekdays whatever the date, so the late packet below
    waits Monday to Friday: four working days less at most one holiday, past the threshold of
    two."""
    start = today.replace(hour=8, minute=0, second=0, microsecond=0) - timedelta(days=20)
    return start - timedelta(days=start.weekday())


def play_two_weeks(hub: Hub) -> str:
    """Reports every working day, pulled a few hours later; returns a packet made dead."""
    hub.sql("UPDATE recipient_keys SET valid_from = :t", t=hub.clock.now - timedelta(days=30))
    start = hub.clock.now
    for day in range(14):
        hub.clock.now = start + timedelta(days=day)
        if hub.clock.now.weekday() >= 5:
            continue
        for n, (portal, country) in enumerate(PORTALS.items()):
            hub.submit(portal, country)
            if (day + n) % 3 == 0:
                hub.submit("platform-int", country)
        hub.clock.advance(hours=1 + day % 5)
        for country in PORTALS.values():
            hub.pull(f"{country.lower()}-police")
        hub.clock.advance(hours=3 + day % 7)
        for country in PORTALS.values():
            hub.pull(f"{country.lower()}-section")
    hub.clock.now = start + timedelta(days=14, hours=2)
    late = hub.submit("portal-de", "DE")
    hub.clock.advance(days=4)
    hub.pull("de-section")  # the German police does not pull: its packet is late
    dead = hub.submit("portal-be", "BE")
    hub.pull("be-police")
    hub.sql(
        "UPDATE deliveries SET state = 'dead', dead_at = :t, attempts = 12, "
        "last_error = 'HTTP 503' WHERE report_id = :r AND recipient_id = 'be-section'",
        t=hub.clock.now,
        r=dead,
    )
    assert late
    secrets, published = load_hub_secrets(hub.settings)
    engine = make_engine(hub.settings.resolved_database_url)
    with Session(engine) as session:
        declare_demo(session, now=hub.clock.now)
    assert audit_round(engine, key=secrets.signing_key, published=published, now=hub.clock.now)
    engine.dispose()
    return str(hub.get("/v1/deliveries?state=dead")[0]["packet_id"])


def triage(hub: Hub) -> None:
    """The sections' coded triage decisions and the police's outcomes, as recipients record
    them (the endpoints that fill them are another helper's; rows through the store here)."""
    engine = make_engine(hub.settings.resolved_database_url)
    with Session(engine) as session:
        delivered = session.exec(
            select(DeliveryRow)
            .where(DeliveryRow.state == "delivered")
            .order_by(col(DeliveryRow.created_at), col(DeliveryRow.packet_id))
        ).all()
        for n, row in enumerate(delivered):
            assert row.delivered_at is not None
            if row.recipient_id.endswith("-section") and n % 7:
                decided = row.delivered_at + timedelta(hours=(n % 6) * 11)
                session.add(
                    TriageDecisionRow(
                        decision_id=str(uuid4()),
                        report_id=row.report_id,
                        recipient_id=row.recipient_id,
                        decision=("forward", "forward", "needs_information", "close")[n % 4],
                        classification=("grooming", "sexual_exploitation_in_travel")[n % 2],
                        decided_at=decided,
                        recorded_at=decided,
                    )
                )
            if row.recipient_id.endswith("-police") and n % 3 == 0:
                session.add(
                    OutcomeRow(
                        report_id=row.report_id,
                        recipient_id=row.recipient_id,
                        outcome=("investigation_opened", "conviction", "no_action")[n % 9 // 3],
                        recorded_at=hub.clock.now,
                    )
                )
        session.commit()
    engine.dispose()


CHARTS = {
    "category": "by_category",
    "incident-country": "by_incident_country",
    "classification": "by_classification",
    "routing-rule": "by_routing_rule",
    "decision": "decisions",
    "outcome": "outcomes",
}


def shoot(page: Page, folder: Path, name: str) -> None:
    path = folder / f"dashboard-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    keep = ROOT / "var" / "screenshots"
    keep.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, keep / path.name)


def cell(page: Page, selector: str) -> str:
    return page.locator(selector).inner_text().strip()


def test_a_coordinator_sees_every_page_and_its_figures_match_the_api(
    hub: Hub, tmp_path: Path
) -> None:
    dead_packet = play_two_weeks(hub)
    triage(hub)
    outside: list[str] = []

    def only_the_hub(route: Route) -> None:
        if route.request.url.startswith(hub.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            args=ARGS,
            headless=True,
            viewport={"width": 1280, "height": 900},
        )
        context.route("**/*", only_the_hub)
        page = context.new_page()

        # Every page asks for a login first.
        page.goto(f"{hub.url}/dashboard/quality")
        assert page.url == f"{hub.url}/dashboard/login"
        shoot(page, tmp_path, "1-login")
        page.fill("#token", hub.network.token("network-coordinator"))
        page.click("button[type=submit]")
        page.wait_for_url(f"{hub.url}/dashboard/")
        cookie = next(c for c in context.cookies() if c["name"] == "hub_dashboard")
        assert cookie["httpOnly"]
        assert cookie["secure"]
        assert cookie["sameSite"] == "Strict"

        # Overview: deliveries per country and state, and the signed tree head, as the API says.
        summary = hub.get("/v1/deliveries/summary")
        assert {c["country"] for c in summary["countries"]} >= set(PORTALS.values())
        for country in summary["countries"]:
            row = f"#deliveries-per-country tr[data-country='{country['country']}']"
            for state, count in country["states"].items():
                assert cell(page, f"{row} td[data-state='{state}']") == str(count)
            assert cell(page, f"{row} td[data-state='late']") == str(country["late"])
        head = hub.get("/v1/audit/tree-head")
        assert cell(page, "#sth-size") == str(head["tree_size"])
        assert cell(page, "#sth-root") == head["root_hash"]
        assert page.locator("#last-check").get_attribute("data-verified") == "true"
        shoot(page, tmp_path, "2-overview")

        # Late and dead: the lists match the API; the re-drive button works.
        page.click("nav >> text=Late & dead")
        listed = hub.get("/v1/deliveries/open")
        assert [d["recipient_id"] for d in listed if d["state"] != "dead"] == ["de-police"]
        assert cell(page, "#dead-count") == str(sum(d["state"] == "dead" for d in listed))
        assert cell(page, "#late-count") == str(sum(d["state"] != "dead" for d in listed))
        assert page.locator("#late tr").count() - 1 == sum(d["state"] != "dead" for d in listed)
        shoot(page, tmp_path, "3-late-and-dead")
        page.click(f"#dead tr[data-packet='{dead_packet}'] button.redrive")
        page.wait_for_selector("#redriven")
        assert dead_packet in cell(page, "#redriven")
        assert cell(page, "#dead-count") == "0"
        assert hub.get("/v1/deliveries?state=dead") == []
        assert dead_packet in {d["packet_id"] for d in hub.get("/v1/deliveries?state=pending")}
        shoot(page, tmp_path, "4-after-redrive")

        # Latency: one chart per country, with the API's numbers of receipted packets.
        page.click("nav >> text=Latency")
        latency = hub.get("/v1/deliveries/latency")
        for country in latency["countries"]:
            chart = page.locator(f"section.chart[data-country='{country['country']}']")
            delivered = sum(p["delivered"] for p in country["points"])
            assert chart.locator(".delivered").inner_text() == str(delivered)
            assert chart.locator("circle.dot").count() == len(country["points"])
        # Processing time: the quarter's figures per country, as the API gives them.
        for country in hub.get("/v1/processing-times")["countries"]:
            cells = page.locator(f"table.processing tr[data-country='{country['country']}'] td")
            assert cells.nth(1).inner_text() == str(country["reports"])
            assert cells.nth(2).inner_text() == str(country["decided"])
        shoot(page, tmp_path, "5-latency")

        # Quality: every verdict as the API judges it.
        page.click("nav >> text=Quality")
        compliance = hub.get("/v1/compliance")
        assert cell(page, "#period") == compliance["period"]
        for card in compliance["countries"]:
            for verdict in card["verdicts"]:
                selector = (
                    f"#scorecard tr[data-country='{card['country']}'] "
                    f"td[data-criterion='{verdict['criterion']}']"
                )
                assert page.locator(selector).get_attribute("data-verdict") == verdict["verdict"]
            # The standards, then the hub's own operations apart, each with source and kind.
            section = f"#country-{card['country']}"
            for group, ids in (
                ("standard", [f"S{n}" for n in range(1, 13)]),
                ("network operation", ["N1", "N2", "N3"]),
            ):
                rows = page.locator(f"{section} table[data-group='{group}'] tbody tr")
                assert [r.get_attribute("data-criterion") for r in rows.all()] == ids
            for verdict in card["verdicts"]:
                line = page.locator(f"{section} tr[data-criterion='{verdict['criterion']}']")
                assert line.locator(".source").inner_text() == f"source: {verdict['source']}"
                kind = line.locator(".threshold").get_attribute("data-kind")
                assert kind == verdict["threshold_kind"]
        shoot(page, tmp_path, "6-quality")

        # The audit log.
        page.click("nav >> text=Audit log")
        entries = hub.get(f"/v1/audit/entries?start={head['tree_size'] - 1}")
        assert int(cell(page, "#log-size")) >= head["tree_size"]
        assert entries
        shoot(page, tmp_path, "7-audit")

        # The annual report: every line's figures and every bar as the API counts them.
        page.click("nav >> text=Annual report")
        annual = hub.get("/v1/reports/annual")
        assert cell(page, "#year") == str(annual["year"])
        scopes = [annual["network"], *annual["lines"]]
        assert annual["network"]["reports"] > 0
        for figures in scopes:
            scope_card = page.locator(f"#line-{figures['scope']}")
            for key, value in (
                ("reports", figures["reports"]),
                ("undecided", figures["processing"]["undecided"]),
                ("packets", figures["deliveries"]["packets"]),
                ("receipts", figures["deliveries"]["receipts"]),
                ("dead_letters", figures["deliveries"]["dead_letters"]),
            ):
                assert scope_card.locator(f"dd[data-figure='{key}']").inner_text() == str(value)
            for chart_key, breakdown in CHARTS.items():
                for code, count in figures[breakdown].items():
                    hbar = scope_card.locator(
                        f"figure[data-chart='{chart_key}'] g.hbar[data-code='{code}']"
                    )
                    value_shown = hbar.locator("text.value").text_content()  # SVG: no inner text
                    assert value_shown == str(count), (chart_key, code)
            columns = scope_card.locator("svg.histogram g.column text.value")
            assert columns.all_text_contents() == [
                str(band["reports"]) for band in figures["processing"]["histogram"]
            ]
        shoot(page, tmp_path, "8-annual")
        page.select_option("#country-choice", "BE")
        page.click("form.choose button[type=submit]")
        page.wait_for_url("**/dashboard/annual?*country=BE*")
        assert page.locator("section.line").count() == 1
        assert page.locator("#line-BE dd[data-figure='reports']").inner_text() == str(
            hub.get("/v1/reports/annual?country=BE")["lines"][0]["reports"]
        )

        for path in (
            "/dashboard/",
            "/dashboard/deliveries",
            "/dashboard/quality",
            "/dashboard/annual",
        ):
            page.goto(f"{hub.url}{path}")
            assert MARKER not in page.content()
        context.close()
    assert outside == []
