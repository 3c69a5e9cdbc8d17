"""The reading room's app: its routes, over the connector's own code for everything it does.

Pages: the login form; the list of received reports; one report, opened in the chosen language,
with a form for the triage decision (`connectors.recipient.triage.triage_report`, as `connector
triage`) and one for the coded outcome (`connectors.recipient.outcome.record_outcome`). Every page
but the login and the stylesheet needs a session; every form posts the session's CSRF token. A
failure is shown as one line on the page, never a traceback; the log names ids and codes only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response

from connectors.client import HubClient
from connectors.config import ConnectorConfig, read_token
from connectors.countries.profiles import default_profiles
from connectors.errors import ConnectorError, HubUnreachable, RoomRefused
from connectors.readings.translations import available_locales
from connectors.recipient.ledger import Ledger
from connectors.recipient.outcome import OUTCOMES, record_outcome
from connectors.recipient.pull import load_keys
from connectors.recipient.readable import Reading, reading_for
from connectors.recipient.triage import triage_report
from connectors.room.guard import HEADERS, check_loopback, guard
from connectors.room.library import holdings, open_report
from connectors.room.login import COOKIE, LoginSession, Sessions
from connectors.room.pages import render, stylesheet
from hub.errors import PacketInvalid
from hub.logs import get_logger
from schemas.classification import Decision, load_codes
from schemas.commitment import ForwardTarget

__all__ = ["Room", "create_room", "serve_room"]

log = get_logger(__name__)

Clock = Callable[[], datetime]
_FAILED = (ConnectorError, PacketInvalid)
# What a redirect after a form may say: fixed sentences, so that no URL carries anything else.
_DONE = {
    "triage": "Decision recorded at the hub.",
    "forwarded": "Decision recorded at the hub and the report forwarded.",
    "deleted": "Decision recorded, the report forwarded, and this copy deleted.",
    "outcome": "Outcome recorded at the hub.",
}


@dataclass(frozen=True)
class Room:
    """What the room's routes share: the connector's config, its sessions, notes and clock."""

    config: ConnectorConfig
    reading: Reading
    sessions: Sessions
    ledger: Ledger
    clock: Clock


class _LoginNeeded(Exception):
    """A page asked for without a live session."""


def _room(request: Request) -> Room:
    room: Room = request.app.state.room
    return room


RoomDep = Annotated[Room, Depends(_room)]


def _session(request: Request, room: RoomDep) -> LoginSession:
    found = room.sessions.find(request.cookies.get(COOKIE), now=room.clock())
    if found is None:
        raise _LoginNeeded()
    return found


SessionDep = Annotated[LoginSession, Depends(_session)]
Csrf = Annotated[str, Form(max_length=100)]


def _line(exc: BaseException) -> str:
    """An error as one line: ids and codes, as our errors word them."""
    text = " ".join(str(exc).split())
    return text or "the packet does not verify or is not sealed to this key"


def _base(room: Room, session: LoginSession | None, **context: Any) -> dict[str, Any]:
    return {
        "recipient": room.config.recipient_id,
        "csrf": session.csrf if session else "",
        "error": None,
        "notice": None,
        **context,
    }


def _check_csrf(session: LoginSession, given: str) -> None:
    if not Sessions.csrf_matches(session, given):
        raise RoomRefused("the form is stale or not this session's: reload the page")


def _locales(reading: Reading) -> list[str]:
    """The reader's languages first (the profile's, or the config's), then every other."""
    return list(dict.fromkeys([*reading.locales, *available_locales()]))


def _targets(room: Room) -> tuple[list[ForwardTarget], str | None]:
    config = room.config
    try:
        with HubClient(
            config.hub_url, read_token(config.credential_file), ca_file=config.ca_file
        ) as hub:
            found = hub.forward_targets().targets
    except ConnectorError as exc:
        return [], f"cannot list where to forward: {_line(exc)}"
    return [t for t in found if t.recipient_id != config.recipient_id], None


def _report_page(
    room: Room,
    session: LoginSession,
    packet_id: str,
    locale: str | None,
    *,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
) -> Response:
    config = room.config
    chosen = locale or room.reading.locales[0]
    try:
        opened = open_report(
            config,
            load_keys(config),
            room.ledger,
            packet_id,
            locale=chosen,
            timezone=room.reading.timezone,
        )
    except _FAILED as exc:
        return _list_page(room, session, status=400, error=_line(exc))
    targets, problem = ([], None) if opened.holding.forwarded else _targets(room)
    codes = load_codes()
    return render(
        "report.html",
        status=status,
        **_base(room, session, error=error or problem, notice=notice),
        lang=chosen,
        opened=opened,
        locale=chosen,
        locales=_locales(room.reading),
        classifications=[c for c in codes.classifications.values() if not c.retired],
        reasons=[r for r in codes.reasons.values() if not r.retired],
        targets=targets,
        outcomes=OUTCOMES,
    )


def _list_page(
    room: Room,
    session: LoginSession,
    *,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
) -> Response:
    try:
        found = holdings(room.config, load_keys(room.config), room.ledger)
    except _FAILED as exc:
        found, error, status = [], error or _line(exc), 400
    return render(
        "list.html",
        status=status,
        **_base(room, session, error=error, notice=notice),
        holdings=found,
    )


def _see_other(url: str) -> Response:
    return RedirectResponse(url, status_code=303, headers=HEADERS)


# Routes

router = APIRouter(include_in_schema=False)


@router.get("/static/room.css")
def stylesheet_route() -> Response:
    """The room's only stylesheet."""
    return Response(stylesheet(), media_type="text/css", headers=HEADERS)


@router.get("/login")
def login_form(room: RoomDep) -> Response:
    """The login form: the one-time code from the terminal."""
    return render("login.html", **_base(room, None))


@router.post("/login")
def login(room: RoomDep, code: Annotated[str, Form(max_length=100)] = "") -> Response:
    """Spend the one-time code and open a session."""
    cookie = room.sessions.log_in(code.strip(), now=room.clock())
    if cookie is None:
        log.warning("room_login_refused", recipient_id=room.config.recipient_id)
        return render(
            "login.html",
            status=400,
            **_base(room, None, error="This code opens nothing: use the newest code printed."),
        )
    log.info("room_login", recipient_id=room.config.recipient_id)
    response = _see_other("/")
    response.set_cookie(COOKIE, cookie, path="/", httponly=True, samesite="strict")
    return response


@router.post("/logout")
def logout(request: Request, room: RoomDep, session: SessionDep, csrf: Csrf = "") -> Response:
    """End the session, server-side."""
    _check_csrf(session, csrf)
    room.sessions.log_out(request.cookies.get(COOKIE))
    log.info("room_logout", recipient_id=room.config.recipient_id)
    response = _see_other("/login")
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/")
def received(
    room: RoomDep,
    session: SessionDep,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """The list of received reports."""
    return _list_page(room, session, notice=_DONE.get(done or ""))


@router.get("/reports/{packet_id}")
def report(
    packet_id: str,
    room: RoomDep,
    session: SessionDep,
    lang: Annotated[str | None, Query(max_length=8)] = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """One report, opened in memory in the chosen language."""
    return _report_page(room, session, packet_id, lang, notice=_DONE.get(done or ""))


@router.post("/reports/{packet_id}/triage")
def record_triage(
    packet_id: str,
    room: RoomDep,
    session: SessionDep,
    csrf: Csrf = "",
    decision: Annotated[str, Form(max_length=40)] = "",
    classification: Annotated[str, Form(max_length=40)] = "",
    reason_code: Annotated[str, Form(max_length=40)] = "",
    to: Annotated[str, Form(max_length=64)] = "",
    note: Annotated[str, Form(max_length=4000)] = "",
    share_contact: Annotated[str, Form(max_length=3)] = "",
    delete_copy: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    """Record the triage decision, as `connector triage` does; forward if so decided."""
    _check_csrf(session, csrf)
    try:
        chosen = Decision(decision)
    except ValueError:
        return _report_page(room, session, packet_id, None, status=400, error="Choose a decision.")
    try:
        result = triage_report(
            room.config,
            packet_id,
            decision=chosen,
            classification=classification,
            reason_code=reason_code or None,
            to_recipient_id=to or None,
            note=note.strip() or None,
            share_contact=share_contact == "yes",
            delete_copy=delete_copy == "yes",
            now=room.clock,
        )
    except _FAILED as exc:
        status = 502 if isinstance(exc, HubUnreachable) else 400
        return _report_page(room, session, packet_id, None, status=status, error=_line(exc))
    if result.forward is not None and result.forward.deleted is not None:
        return _see_other("/?done=deleted")
    done = "forwarded" if result.forward is not None else "triage"
    return _see_other(f"/reports/{packet_id}?done={done}")


@router.post("/reports/{packet_id}/outcome")
def record_coded_outcome(
    packet_id: str,
    room: RoomDep,
    session: SessionDep,
    csrf: Csrf = "",
    outcome: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Record the report's coded outcome at the hub."""
    _check_csrf(session, csrf)
    try:
        record_outcome(room.config, packet_id, outcome)
    except _FAILED as exc:
        status = 502 if isinstance(exc, HubUnreachable) else 400
        return _report_page(room, session, packet_id, None, status=status, error=_line(exc))
    return _see_other(f"/reports/{packet_id}?done=outcome")


def _login_needed(request: Request, exc: Exception) -> Response:
    if request.method == "GET":
        return _see_other("/login")
    return PlainTextResponse("log in first", status_code=403, headers=HEADERS)


def _refused(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(_line(exc), status_code=403, headers=HEADERS)


def create_room(
    config: ConnectorConfig,
    *,
    on_code: Callable[[str], None],
    reading: Reading | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """The reading room for the connector `config`; `on_code` shows each new login code to the
    person who started it (the terminal). `reading`: the reader's languages and time zone
    (default: from the profile that lists the recipient, else the config)."""
    now = clock or (lambda: datetime.now(UTC))
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.room = Room(
        config=config,
        reading=reading or reading_for(config.recipient_id, default_profiles(), config),
        sessions=Sessions(on_code),
        ledger=Ledger(config.store_dir),
        clock=now,
    )
    app.middleware("http")(guard)
    app.add_exception_handler(_LoginNeeded, _login_needed)
    app.add_exception_handler(RoomRefused, _refused)
    app.include_router(router)
    return app


def serve_room(app: FastAPI, *, host: str, port: int) -> None:
    """Serve the room on loopback until interrupted. Raises RoomRefused for any other host."""
    uvicorn.run(app, host=check_loopback(host), port=port, log_config=None, access_log=False)
