"""The reading room in a real browser: headless Chromium (Debian's package, driven by Playwright
with its executable path) against the room over real HTTP on loopback, the room against a real
hub on loopback, with the demo network's keys.

The Belgian section has two reports pulled. The test logs in with the one-time code the room
printed, sees both in the list, opens one in the section's languages (Dutch first, then French),
records a triage decision and a coded outcome, each in a click or two, checks both at the hub,
logs out, and saves a screenshot of each step (in its tmp_path and in var/screenshots/). Nothing
is loaded from anywhere but the room. It runs once, on SQLite: what it checks is the browser's
view, not the engine.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, Route, sync_playwright

from connectors.recipient.pull import pull_until_empty
from connectors.room import create_room
from hub.http.server import serving
from hub.store import OutcomeRow, TriageDecisionRow
from tests.conftest import ROOT, LiveHub
from tests.connectors.recipient.test_forward import CONTACT, _config, _copy
from tests.connectors.room.test_room import MARKER, hub_rows, submit
from tests.test_dashboard_browser import ARGS, CHROMIUM

pytestmark = pytest.mark.engine("sqlite")


def shoot(page: Page, folder: Path, name: str) -> None:
    path = folder / f"room-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    keep = ROOT / "var" / "screenshots"
    keep.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, keep / path.name)


def test_a_section_logs_in_reads_a_report_in_two_languages_and_records_a_decision_and_outcome(
    live_hub: LiveHub, tmp_path: Path
) -> None:
    config = _config(live_hub, "be-section")
    consented = submit(live_hub, CONTACT)
    anonymous = submit(live_hub)
    assert not pull_until_empty(config).failed
    packet_id = _copy(config, consented)
    codes: list[str] = []
    outside: list[str] = []
    with serving(create_room(config, on_code=codes.append)) as url:

        def only_the_room(route: Route) -> None:
            if route.request.url.startswith(url):
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
            context.route("**/*", only_the_room)
            page = context.new_page()

            # Every page asks for a login first; the code printed in the terminal opens it.
            page.goto(f"{url}/")
            assert page.url == f"{url}/login"
            shoot(page, tmp_path, "1-login")
            page.fill("#code", codes[-1])
            page.click("button[type=submit]")
            page.wait_for_url(f"{url}/")
            cookie = next(c for c in context.cookies() if c["name"] == "connector_room")
            assert cookie["httpOnly"]
            assert cookie["sameSite"] == "Strict"
            assert cookie["path"] == "/"

            # The list: both reports, where they came from, none decided yet.
            assert page.locator("#count").inner_text() == "2"
            for report_id in (consented, anonymous):
                row = page.locator(f"#reports tr[data-report='{report_id}']")
                assert row.locator(".origin").inner_text() == "portal-be"
                assert row.locator(".decision").inner_text() == "waiting"
            assert MARKER not in page.content()
            shoot(page, tmp_path, "2-list")

            # One report, in the section's first language, then in French.
            page.click(f"#reports tr[data-report='{consented}'] a.open")
            page.wait_for_url(f"{url}/reports/{packet_id}")
            assert page.locator("#reading").get_attribute("lang") == "nl"
            assert MARKER in page.locator("#free-text").inner_text()
            dutch = page.locator("#reading h3").all_inner_texts()
            shoot(page, tmp_path, "3-report-nl")
            page.click("nav.languages a[data-lang='fr']")
            page.wait_for_url(f"{url}/reports/{packet_id}?lang=fr")
            assert page.locator("#reading").get_attribute("lang") == "fr"
            assert MARKER in page.locator("#free-text").inner_text()
            french = page.locator("#reading h3").all_inner_texts()
            assert dutch != french
            shoot(page, tmp_path, "4-report-fr")

            # A decision: needs information (the reporter consented), with its codes.
            page.check("input[name=decision][value=needs_information]")
            page.select_option("#classification", "insufficient_information")
            page.select_option("#reason", "place_or_time_missing")
            page.click("#record-triage")
            page.wait_for_selector("#notice")
            assert page.locator("#notice").inner_text() == "Decision recorded at the hub."
            assert page.locator("#recorded-decision").inner_text() == (
                "needs_information · insufficient_information · place_or_time_missing"
            )
            shoot(page, tmp_path, "5-decision")

            # A coded outcome: one choice, one click.
            page.select_option("#outcome-code", "under_assessment")
            page.click("#record-outcome")
            page.wait_for_selector("#notice")
            assert page.locator("#notice").inner_text() == "Outcome recorded at the hub."
            assert page.locator("#recorded-outcome").inner_text() == "under_assessment"
            shoot(page, tmp_path, "6-outcome")

            # A refusal is one line on the page: a close needs a reason code.
            page.goto(f"{url}/reports/{_copy(config, anonymous)}")
            page.check("input[name=decision][value=close]")
            page.select_option("#classification", "not_within_scope")
            page.click("#record-triage")
            page.wait_for_selector("#error")
            assert "a close needs a reason code" in page.locator("#error").inner_text()
            assert "Traceback" not in page.content()
            shoot(page, tmp_path, "7-refused")

            page.click("nav >> text=Received reports")
            row = page.locator(f"#reports tr[data-report='{consented}']")
            assert row.locator(".outcome").inner_text() == "under_assessment"
            shoot(page, tmp_path, "8-list-after")

            # Logout ends the session: the list asks for a login again.
            page.click("#logout")
            page.wait_for_url(f"{url}/login")
            page.goto(f"{url}/")
            assert page.url == f"{url}/login"
            context.close()
        assert httpx.get(f"{url}/", timeout=10, follow_redirects=False).status_code == 303
    assert outside == []
    [decision] = hub_rows(live_hub, TriageDecisionRow)
    assert (decision.report_id, decision.decision, decision.reason_code) == (
        consented,
        "needs_information",
        "place_or_time_missing",
    )
    [outcome] = hub_rows(live_hub, OutcomeRow)
    assert (outcome.report_id, outcome.outcome) == (consented, "under_assessment")
