"""The coordinators' dashboard over HTTP: login sessions, who may see it, forms that cannot be
forged from elsewhere, and pages that hold no report content."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from hub.http.app import create_app
from hub.http.dashboard import COOKIE
from hub.http.sessions import session_caller
from hub.network.credentials import Principal, Role, revoke_credential
from hub.network.routing import RecipientKind
from hub.settings import Settings
from hub.store import CredentialRow, DashboardSessionRow, DeliveryRow
from tests.conftest import Clock, Network
from tests.factories import report_body

MARKER = "DASHBOARD-MARKER-04ab"
PAGES = ("/dashboard/", "/dashboard/deliveries", "/dashboard/latency", "/dashboard/quality",
         "/dashboard/audit")  # fmt: skip


@pytest.fixture
def browser(settings: Settings, network: Network, clock: Clock) -> Iterator[TestClient]:
    """The app as a browser sees it: over https (the cookie is Secure), asking for HTML."""
    app = create_app(settings.model_copy(update={"scheduler": False}), clock=clock)
    with TestClient(
        app,
        base_url="https://testserver",
        raise_server_exceptions=False,
        follow_redirects=False,
        headers={"Accept": "text/html,application/xhtml+xml"},
    ) as client:
        yield client


def log_in(browser: TestClient, network: Network) -> str:
    answer = browser.post("/dashboard/login", data={"token": network.token("network-coordinator")})
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/dashboard/"
    return answer.headers["set-cookie"]


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_pages_ask_a_browser_to_log_in_and_a_program_for_a_token(
    browser: TestClient, network: Network
) -> None:
    for page in PAGES:
        answer = browser.get(page)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/dashboard/login"
        program = browser.get(page, headers={"Accept": "application/json"})
        assert program.status_code == 401
        assert program.headers["content-type"] == "application/problem+json"
    assert browser.get("/dashboard/login").status_code == 200


def test_the_coordinator_logs_in_with_a_secure_http_only_strict_cookie(
    browser: TestClient, network: Network
) -> None:
    cookie = log_in(browser, network)
    assert cookie.startswith(f"{COOKIE}=")
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert {"secure", "httponly", "samesite=strict", "path=/dashboard"} <= attributes
    for page in PAGES:
        answer = browser.get(page)
        assert answer.status_code == 200, page
        assert "default-src 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["cache-control"] == "no-store"
    assert network.token("network-coordinator") not in browser.get("/dashboard/").text


def test_only_the_coordinator_s_token_opens_the_dashboard(
    browser: TestClient, network: Network
) -> None:
    for party in ("nl-police", "at-section", "portal-nl"):
        answer = browser.post("/dashboard/login", data={"token": network.token(party)})
        assert answer.status_code == 400
        assert "set-cookie" not in answer.headers
    assert browser.post("/dashboard/login", data={"token": "hubrcp_nonsense"}).status_code == 400
    police = browser.get("/dashboard/", headers={**network.auth("nl-police")})
    assert police.status_code == 403


def test_the_session_cookie_is_no_bearer_token_for_the_api(
    browser: TestClient, network: Network
) -> None:
    log_in(browser, network)
    answer = browser.get("/v1/deliveries/summary", headers={"Accept": "application/json"})
    assert answer.status_code == 401
    # The browser keeps the cookie to /dashboard; a copy sent to the API by hand opens nothing.
    copied = {"Cookie": f"{COOKIE}={browser.cookies[COOKIE]}", "Accept": "application/json"}
    assert browser.get("/v1/deliveries/summary", headers=copied).status_code == 401


def test_revoking_the_login_s_credential_ends_the_session(
    browser: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    log_in(browser, network)
    assert browser.get("/dashboard/").status_code == 200
    with Session(engine) as session:
        for row in session.exec(
            select(CredentialRow).where(CredentialRow.principal_id == "network-coordinator")
        ).all():
            revoke_credential(session, row.credential_id, clock.now)
    assert browser.get("/dashboard/").status_code == 303


def test_logging_out_ends_the_session_so_its_old_cookie_is_refused(
    browser: TestClient, network: Network
) -> None:
    log_in(browser, network)
    stolen = browser.cookies[COOKIE]
    page = browser.get("/dashboard/").text
    answer = browser.post("/dashboard/logout", data={"csrf": csrf_of(page)})
    assert answer.status_code == 303
    # The browser forgets the cookie; a copy taken before must stop working at the server too.
    browser.cookies.clear()
    replayed = browser.get("/dashboard/", headers={"Cookie": f"{COOKIE}={stolen}"})
    assert replayed.status_code == 303
    assert replayed.headers["location"] == "/dashboard/login"
    program = {"Cookie": f"{COOKIE}={stolen}", "Accept": "application/json"}
    assert browser.get("/dashboard/", headers=program).status_code == 401


def test_a_dead_letter_is_redriven_from_its_page_with_the_form_s_token_only(
    browser: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    body = report_body(free_text=MARKER)
    assert (
        browser.post(
            "/v1/reports", json=body, headers={**network.auth("portal-nl"), "Accept": "*/*"}
        ).status_code
        == 202
    )
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE deliveries SET state = 'dead', dead_at = :t, last_error = 'HTTP 410' "
                "WHERE recipient_id = 'nl-police'"
            ),
            {"t": clock.now},
        )
    with Session(engine) as session:
        packet_id = session.exec(
            select(DeliveryRow.packet_id).where(DeliveryRow.recipient_id == "nl-police")
        ).one()
    log_in(browser, network)
    page = browser.get("/dashboard/deliveries")
    assert packet_id in page.text
    assert MARKER not in page.text
    forged = browser.post(f"/dashboard/deliveries/{packet_id}/retry", data={"csrf": "guess"})
    assert forged.status_code == 422
    done = browser.post(
        f"/dashboard/deliveries/{packet_id}/retry", data={"csrf": csrf_of(page.text)}
    )
    assert done.status_code == 303
    assert browser.get(done.headers["location"]).status_code == 200
    with Session(engine) as session:
        row = session.get(DeliveryRow, packet_id)
        assert row is not None
        assert row.state == "pending"
    for page_path in PAGES:
        assert MARKER not in browser.get(page_path).text


def test_logging_out_with_the_api_token_instead_of_a_session_changes_nothing(
    browser: TestClient, network: Network
) -> None:
    # The coordinator's bearer token opens the dashboard's pages as it opens the API; it has no
    # session to end, and no CSRF token to show: logging out answers as usual, without a session.
    log_in(browser, network)
    cookie = browser.cookies[COOKIE]
    browser.cookies.clear()
    answer = browser.post("/dashboard/logout", headers=network.auth("network-coordinator"))
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard/login"
    # The session opened before, in another browser, is still open.
    page = browser.get("/dashboard/", headers={"Cookie": f"{COOKIE}={cookie}"})
    assert page.status_code == 200


def test_an_expired_coordinator_token_is_refused_at_login_and_opens_no_session(
    browser: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    with Session(engine) as session:
        for row in session.exec(
            select(CredentialRow).where(CredentialRow.principal_id == "network-coordinator")
        ).all():
            row.expires_at = clock.now
            session.add(row)
        session.commit()
    answer = browser.post("/dashboard/login", data={"token": network.token("network-coordinator")})
    assert answer.status_code == 400, answer.text
    assert "set-cookie" not in answer.headers


def coordinator_credentials(session: Session) -> list[CredentialRow]:
    return list(
        session.exec(
            select(CredentialRow).where(CredentialRow.principal_id == "network-coordinator")
        ).all()
    )


def test_a_session_ends_at_the_instant_it_expires(
    browser: TestClient, network: Network, settings: Settings, clock: Clock
) -> None:
    log_in(browser, network)
    clock.advance(seconds=settings.dashboard_session_seconds - 1)
    assert browser.get("/dashboard/").status_code == 200
    clock.advance(seconds=1)
    answer = browser.get("/dashboard/")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard/login"


def test_a_session_ends_at_the_instant_its_login_s_credential_expires(
    browser: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    with Session(engine) as session:
        for row in coordinator_credentials(session):
            row.expires_at = clock.now + timedelta(minutes=5)
            session.add(row)
        session.commit()
    log_in(browser, network)
    clock.advance(minutes=5, seconds=-1)
    assert browser.get("/dashboard/").status_code == 200
    clock.advance(seconds=1)
    assert browser.get("/dashboard/").status_code == 303


def test_a_login_drops_the_sessions_that_have_expired_and_keeps_the_others(
    browser: TestClient, network: Network, engine: Engine, settings: Settings, clock: Clock
) -> None:
    lifetime = settings.dashboard_session_seconds
    log_in(browser, network)
    clock.advance(seconds=lifetime // 2)
    log_in(browser, network)
    clock.advance(seconds=lifetime - lifetime // 2)
    log_in(browser, network)  # the first has just expired, the second has not
    with Session(engine) as session:
        kept = session.exec(select(DashboardSessionRow.created_at)).all()
    assert len(kept) == 2
    assert all(clock.now - created < timedelta(seconds=lifetime) for created in kept)


def test_a_session_stands_for_the_coordinator_with_the_login_s_own_credential(
    browser: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    log_in(browser, network)
    cookie = f"{COOKIE}={browser.cookies[COOKIE]}".encode()
    request = Request(
        {
            "type": "http",
            "method": "GET",
            "scheme": "https",
            "server": ("testserver", 443),
            "path": "/dashboard/",
            "query_string": b"",
            "headers": [(b"cookie", cookie)],
        }
    )
    with Session(engine) as session:
        (credential,) = [r for r in coordinator_credentials(session) if r.revoked_at is None]
        caller = session_caller(request, session, now=clock.now)
    assert caller == Principal(
        Role.recipient,
        "network-coordinator",
        RecipientKind.coordinator,
        credential_id=credential.credential_id,
    )
