"""The reading room over real HTTP on loopback, against a real hub on loopback, with the demo
network's real keys: a login code opens one session; every page needs it and every form its
CSRF token and the room's own origin; the headers are as strict as the dashboard's; it listens
on 127.0.0.1 only; logout ends the session server-side; a decision and an outcome recorded here
are at the hub; and nothing readable of a report is written to disk or logs on the way."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select
from structlog.testing import capture_logs
from typer.testing import CliRunner

from connectors.cli.main import app as connector_app
from connectors.config import ConnectorConfig
from connectors.errors import RoomRefused
from connectors.recipient.outcome import OUTCOMES
from connectors.recipient.pull import pull_until_empty
from connectors.room import check_loopback, create_room
from connectors.room.login import Sessions
from hub.http.server import serving
from hub.oversight.feedback import Outcome
from hub.store import OutcomeRow, TriageDecisionRow, make_engine
from tests.conftest import ROOT, Clock, LiveHub
from tests.connectors.recipient.test_forward import CONTACT, _config, _copy, _received_forward
from tests.factories import report_body

MARKER = "ROOM-MARKER-7f3a-never-on-disk"
STRICT = {
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


@dataclass
class Room:
    """A reading room served on loopback, the codes it printed, and a browser-like client."""

    url: str
    config: ConnectorConfig
    codes: list[str] = field(default_factory=list)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Origin": self.url}, timeout=10)

    def log_in(self, browser: httpx.Client) -> str:
        answer = browser.post("/login", data={"code": self.codes[-1]})
        assert answer.status_code == 303, answer.text
        return csrf_of(browser.get("/").text)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def submit(hub: LiveHub, reporter: dict[str, Any] | None = None) -> str:
    """A Belgian report with the marker in its content; its report id."""
    body = report_body("portal-be", nationalities=("BE",), free_text=f"free text {MARKER}")
    body["incident"]["description"] = f"description {MARKER}"
    if reporter is not None:
        body["reporter"] = reporter
    answer = httpx.post(
        f"{hub.url}/v1/reports", json=body, headers=hub.network.auth("portal-be"), timeout=10
    )
    assert answer.status_code == 202, answer.text
    return str(body["report_id"])


@pytest.fixture
def room(live_hub: LiveHub) -> Iterator[Room]:
    config = _config(live_hub, "be-section")
    codes: list[str] = []
    with serving(create_room(config, on_code=codes.append)) as url:
        yield Room(url=url, config=config, codes=codes)


def received(hub: LiveHub, room: Room, reporter: dict[str, Any] | None = None) -> tuple[str, str]:
    """A report be-section pulled: (report id, packet id)."""
    report_id = submit(hub, reporter)
    assert not pull_until_empty(room.config).failed
    return report_id, _copy(room.config, report_id)


def hub_rows(hub: LiveHub, row: type[Any]) -> list[Any]:
    engine = make_engine(hub.settings.resolved_database_url)
    try:
        with Session(engine) as session:
            return list(session.exec(select(row)).all())
    finally:
        engine.dispose()


def test_every_page_needs_a_login_and_a_login_code_opens_one_session_only(room: Room) -> None:
    with room.client() as browser:
        for path in ("/", "/reports/00000000-0000-4000-8000-000000000000"):
            answer = browser.get(path)
            assert (answer.status_code, answer.headers["location"]) == (303, "/login")
        assert browser.post("/logout", data={"csrf": "x"}).status_code == 403
        assert browser.post("/login", data={"code": "guessed"}).status_code == 400
        code = room.codes[-1]
        assert browser.post("/login", data={"code": code}).status_code == 303
        cookie = next(c for c in browser.cookies.jar if c.name == "connector_room")
        assert cookie.path == "/"
        assert cookie.has_nonstandard_attr("HttpOnly")
        assert str(cookie.get_nonstandard_attr("SameSite")).lower() == "strict"
        assert browser.get("/").status_code == 200
    # The code is spent: another browser cannot use it again; the next code printed works.
    with room.client() as other:
        assert other.post("/login", data={"code": code}).status_code == 400
        assert room.codes[-1] != code
        assert other.post("/login", data={"code": room.codes[-1]}).status_code == 303


def test_a_session_ends_after_a_quarter_of_an_hour_without_use() -> None:
    clock = Clock()
    codes: list[str] = []
    sessions = Sessions(codes.append)
    cookie = sessions.log_in(codes[-1], now=clock())
    assert sessions.find(cookie, now=clock()) is not None
    clock.advance(minutes=14)
    assert sessions.find(cookie, now=clock()) is not None
    clock.advance(minutes=16)
    assert sessions.find(cookie, now=clock()) is None


def test_a_form_without_the_sessions_csrf_token_or_from_another_origin_is_refused(
    live_hub: LiveHub, room: Room
) -> None:
    _, packet_id = received(live_hub, room)
    form = {"decision": "close", "classification": "not_within_scope", "reason_code": "duplicate"}
    with room.client() as browser:
        csrf = room.log_in(browser)
        triage = f"/reports/{packet_id}/triage"
        assert browser.post(triage, data=form).status_code == 403
        assert browser.post(triage, data={**form, "csrf": "not-the-token"}).status_code == 403
        foreign = {"Origin": "http://evil.example"}
        assert browser.post(triage, data={**form, "csrf": csrf}, headers=foreign).status_code == 403
        # Another port of 127.0.0.1 is the same site (SameSite lets the cookie go) but not
        # the room's origin.
        port = int(room.url.rsplit(":", 1)[1])
        other_port = {"Origin": f"http://127.0.0.1:{port + 1}", "Sec-Fetch-Site": "same-site"}
        refused = browser.post(triage, data={**form, "csrf": csrf}, headers=other_port)
        assert refused.status_code == 403
        cross_site = {"Origin": "null", "Sec-Fetch-Site": "cross-site"}
        refused = browser.post(triage, data={**form, "csrf": csrf}, headers=cross_site)
        assert refused.status_code == 403
        no_origin = httpx.Client(base_url=room.url, cookies=browser.cookies, timeout=10)
        assert no_origin.post(triage, data={**form, "csrf": csrf}).status_code == 403
        no_origin.close()
    assert hub_rows(live_hub, TriageDecisionRow) == []


def test_every_answer_carries_the_strict_headers_and_another_host_is_refused(room: Room) -> None:
    with room.client() as browser:
        for answer in (
            browser.get("/login"),
            browser.get("/static/room.css"),
            browser.get("/"),
            browser.post("/login", data={"code": "wrong"}),
        ):
            for name, value in STRICT.items():
                assert answer.headers[name] == value, (answer.url, name)
        # DNS rebinding: a name that resolves to 127.0.0.1 is not the room's address.
        port = room.url.rsplit(":", 1)[1]
        rebound = browser.get("/login", headers={"Host": f"attacker.example:{port}"})
        assert rebound.status_code == 403
        assert browser.get("/login", headers={"Host": f"localhost:{port}"}).status_code == 403


def test_the_room_listens_on_loopback_only(tmp_path: Path, live_hub: LiveHub) -> None:
    everywhere = "0.0.0.0"  # noqa: S104 (the address the room must refuse)
    for host in (everywhere, "::", "192.168.1.10", "localhost", "::1"):
        with pytest.raises(RoomRefused, match=r"127\.0\.0\.1 only"):
            check_loopback(host)
    assert check_loopback("127.0.0.1") == "127.0.0.1"
    config = live_hub.network.connector_config("be-section")
    result = CliRunner().invoke(
        connector_app, ["room", "--config", str(config), "--host", everywhere]
    )
    assert result.exit_code == 1
    assert "127.0.0.1 only" in result.output
    assert "Traceback" not in result.output


def test_after_logout_the_old_cookie_opens_nothing(room: Room) -> None:
    with room.client() as browser:
        csrf = room.log_in(browser)
        cookie = browser.cookies["connector_room"]
        assert browser.post("/logout", data={"csrf": csrf}).status_code == 303
    with httpx.Client(base_url=room.url, cookies={"connector_room": cookie}, timeout=10) as replay:
        answer = replay.get("/")
        assert (answer.status_code, answer.headers["location"]) == (303, "/login")


def test_the_list_and_a_report_in_two_languages_then_a_decision_and_an_outcome_at_the_hub(
    live_hub: LiveHub, room: Room
) -> None:
    report_id, packet_id = received(live_hub, room, CONTACT)
    with room.client() as browser:
        csrf = room.log_in(browser)
        listing = browser.get("/").text
        assert f'data-packet="{packet_id}"' in listing
        assert "portal-be" in listing
        assert "waiting" in listing
        english = browser.get(f"/reports/{packet_id}?lang=en").text
        french = browser.get(f"/reports/{packet_id}?lang=fr").text
        assert MARKER in english
        assert MARKER in french
        assert '<article class="reading" lang="en"' in english
        assert '<article class="reading" lang="fr"' in french
        assert english != french
        answer = browser.post(
            f"/reports/{packet_id}/triage",
            data={
                "csrf": csrf,
                "decision": "needs_information",
                "classification": "insufficient_information",
                "reason_code": "place_or_time_missing",
            },
        )
        assert answer.status_code == 303, answer.text
        answer = browser.post(
            f"/reports/{packet_id}/outcome", data={"csrf": csrf, "outcome": "under_assessment"}
        )
        assert answer.status_code == 303, answer.text
        shown = browser.get(answer.headers["location"]).text
        assert "Outcome recorded at the hub." in shown
        assert "needs_information · insufficient_information" in shown
    [decision] = hub_rows(live_hub, TriageDecisionRow)
    assert (decision.report_id, decision.recipient_id, decision.decision) == (
        report_id,
        "be-section",
        "needs_information",
    )
    [outcome] = hub_rows(live_hub, OutcomeRow)
    assert (outcome.report_id, outcome.outcome) == (report_id, "under_assessment")


def test_a_refused_decision_is_one_line_on_the_page_and_nothing_is_recorded(
    live_hub: LiveHub, room: Room
) -> None:
    _, packet_id = received(live_hub, room)  # anonymous: no contact possible
    with room.client() as browser:
        csrf = room.log_in(browser)
        answer = browser.post(
            f"/reports/{packet_id}/triage",
            data={
                "csrf": csrf,
                "decision": "needs_information",
                "classification": "insufficient_information",
            },
        )
        assert answer.status_code == 400
        [error] = re.findall(r'<p class="error" id="error" role="alert">([^<]*)</p>', answer.text)
        assert "did not consent to be contacted" in error
        assert "Traceback" not in answer.text
        unknown = browser.post(
            f"/reports/{packet_id}/triage",
            data={
                "csrf": csrf,
                "decision": "close",
                "classification": "no_such_code",
                "reason_code": "duplicate",
            },
        )
        assert unknown.status_code == 400
        assert "hub refused" in unknown.text
    assert hub_rows(live_hub, TriageDecisionRow) == []


def test_a_forward_from_the_room_deletes_the_copy_and_the_police_room_shows_what_was_added(
    live_hub: LiveHub, room: Room
) -> None:
    report_id, packet_id = received(live_hub, room)
    with room.client() as browser:
        csrf = room.log_in(browser)
        page = browser.get(f"/reports/{packet_id}").text
        assert '<option value="be-police">' in page
        answer = browser.post(
            f"/reports/{packet_id}/triage",
            data={
                "csrf": csrf,
                "decision": "forward",
                "classification": "sexual_exploitation_travel_tourism",
                "to": "be-police",
                "note": "Enough usable information.",
                "delete_copy": "yes",
            },
        )
        assert (answer.status_code, answer.headers["location"]) == (303, "/?done=deleted")
        assert f'data-packet="{packet_id}"' not in browser.get("/").text
    [decision] = hub_rows(live_hub, TriageDecisionRow)
    assert (decision.report_id, decision.decision) == (report_id, "forward")
    # The police's room shows the forward, verified against the hub's commitment, with the
    # forwarder's additions and what it withheld.
    police = _config(live_hub, "be-police")
    assert not pull_until_empty(police).failed
    codes: list[str] = []
    with serving(create_room(police, on_code=codes.append)) as url:
        police_room = Room(url=url, config=police, codes=codes)
        with police_room.client() as browser:
            police_room.log_in(browser)
            forward = str(_received_forward(police, report_id).body.packet_id)
            listing = browser.get("/").text
            row = listing.split(f'data-packet="{forward}"', 1)[1].split("</tr>", 1)[0]
            assert "forward from be-section" in row
            page = browser.get(f"/reports/{forward}").text
    assert "Forward from be-section" in page
    assert "Enough usable information." in page
    assert "sexual_exploitation_travel_tourism" in page
    assert MARKER in page


def test_nothing_readable_of_a_report_is_written_to_disk_or_logs_by_the_room(
    live_hub: LiveHub, room: Room, tmp_path: Path
) -> None:
    with capture_logs() as logs:
        _, packet_id = received(live_hub, room, CONTACT)
        before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
        with room.client() as browser:
            csrf = room.log_in(browser)
            browser.get("/")
            for lang in ("en", "de", "fr", "nl"):
                assert MARKER in browser.get(f"/reports/{packet_id}?lang={lang}").text
            browser.post(
                f"/reports/{packet_id}/triage",
                data={
                    "csrf": csrf,
                    "decision": "close",
                    "classification": "not_within_scope",
                    "reason_code": "duplicate",
                },
            )
            browser.post(f"/reports/{packet_id}/outcome", data={"csrf": csrf, "outcome": "closed"})
    assert MARKER not in repr(logs)
    assert "jan@example.be" not in repr(logs)
    written = [
        p for p in tmp_path.rglob("*") if p.is_file() and before.get(p) != p.stat().st_mtime_ns
    ]
    # The connector's side wrote one file: the room's note of the codes recorded; the rest is
    # the hub's own database (tests/test_no_plaintext.py checks that one).
    hub_side = tmp_path / "hub-data"
    connector_side = [
        p for p in written if not p.name.startswith("hub.db") and hub_side not in p.parents
    ]
    assert [p.parent.name for p in connector_side] == ["room"]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert MARKER.encode() not in data, path
            assert b"jan@example.be" not in data, path
    [note] = connector_side
    assert note.stat().st_mode & 0o077 == 0
    assert note.parent.stat().st_mode & 0o077 == 0


def test_the_rooms_outcome_codes_are_the_hubs() -> None:
    assert list(OUTCOMES) == [o.value for o in Outcome]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_connector_room_prints_a_login_code_and_serves_the_list_on_loopback(
    live_hub: LiveHub, tmp_path: Path
) -> None:
    config = _config(live_hub, "be-section")
    report_id = submit(live_hub)
    assert not pull_until_empty(config).failed
    port = _free_port()
    errors = tmp_path / "room.stderr"
    command = [sys.executable, "-m", "tests.clocked", "connectors", "room"]
    config_file = str(live_hub.network.connector_config("be-section"))
    with errors.open("wb") as sink:
        process = subprocess.Popen(
            [*command, "--config", config_file, "--port", str(port)],
            stdout=sink,
            stderr=sink,
            cwd=ROOT,
            env=os.environ.copy(),
        )
    try:
        deadline = time.monotonic() + 90  # the command imports for a while on a busy machine
        code = None
        while code is None and time.monotonic() < deadline:
            found = re.search(r"login code \(one use\): (\S+)", errors.read_text("utf-8"))
            code = found.group(1) if found else None
            time.sleep(0.1)
        assert code, errors.read_text("utf-8")
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, headers={"Origin": url}, timeout=10) as browser:
            while time.monotonic() < deadline:
                try:
                    browser.get("/login")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            assert browser.post("/login", data={"code": code}).status_code == 303
            assert f'data-report="{report_id}"' in browser.get("/").text
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert MARKER not in errors.read_text("utf-8")
