"""The coordinators' dashboard: server-rendered pages under /dashboard, behind the coordinator's
credential, with no report content anywhere and nothing loaded from outside the hub.

A coordinator logs in with its API token once (`/dashboard/login`); the hub checks it as it checks
any bearer token and opens a session: a random cookie (`Secure`, `HttpOnly`, `SameSite=Strict`, path
/dashboard) whose SHA-256 it keeps with the credential's id, so that revoking the credential ends
the session. The authorization table (hub/http/authz.py) applies to these pages as to the API:
`hub.http.deps` takes the session cookie for a bearer token on them, and on them only. Forms carry
the session's CSRF token as well. Charts are SVG drawn here; no script runs.

Pages: the overview (deliveries per country and state, the audit log's signed tree head and last
verification), the late and dead deliveries with a re-drive button, latency charts per country
with the quarter's processing times (intake to the first triage decision), the quality scorecard
per country with its evidence, the audit log, and the annual report per line and for the network
(hub/oversight/annual.py), its charts drawn by the hub.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from hub.audit import log as audit
from hub.delivery.state import redrive
from hub.http.deps import Caller, SessionDep, StateDep
from hub.http.sessions import (
    COOKIE,
    PREFIX,
    LoginRequired,
    check_csrf,
    csrf_token,
    end_session,
    open_session,
    session_caller,
)
from hub.network.credentials import Principal
from hub.oversight.annual import annual_report, member_countries, processing_limit
from hub.oversight.annual_render import annual_views, lines_chart
from hub.oversight.compliance import compliance_report, judge_for, late_after
from hub.oversight.figures import (
    CountryLatency,
    LatencySeries,
    delivery_summary,
    latency_series,
    open_deliveries,
)
from hub.oversight.processing import processing_times
from hub.oversight.quality import PERIOD_PATTERN, Period

__all__ = [
    "COOKIE",
    "PREFIX",
    "TEMPLATES",
    "LoginRequired",
    "check_templates",
    "install",
    "session_caller",
]

_TEMPLATES = Path(__file__).parents[1] / "templates"
# Every template the hub renders (the dashboard's pages and the printable compliance report):
# package data that /readyz checks (hub/http/readiness.py).
TEMPLATES = (
    "dashboard_base.html",
    "dashboard_login.html",
    "dashboard_overview.html",
    "dashboard_deliveries.html",
    "dashboard_latency.html",
    "dashboard_quality.html",
    "dashboard_audit.html",
    "dashboard_tree_head.html",
    "compliance_report.html",
)
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _login_required(request: Request, exc: Exception) -> Response:
    """A person's browser goes to the login page; a program gets the API's 401 problem."""
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse(f"{PREFIX}/login", status_code=303, headers=_HEADERS)
    return JSONResponse(
        {"title": "Not authenticated", "status": 401, "detail": str(exc), "errors": []},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
        media_type="application/problem+json",
    )


def install(app: FastAPI) -> None:
    """Add the dashboard's pages to the hub's app."""
    app.include_router(router)
    app.add_exception_handler(LoginRequired, _login_required)


# Rendering


@dataclass(frozen=True)
class _Page:
    environment: Environment

    def render(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.environment.get_template(name).render(prefix=PREFIX, **context)
        return HTMLResponse(html, status_code=status, headers=_HEADERS)


_PAGES = _Page(
    Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
)


def check_templates() -> None:
    """Load every template the hub renders, and its stylesheet.

    Raises OSError or jinja2.TemplateError naming the file at fault.
    """
    for name in TEMPLATES:
        _PAGES.environment.get_template(name)
    (_TEMPLATES / "dashboard.css").read_text(encoding="utf-8")


def _base(request: Request, caller: Principal, page: str) -> dict[str, Any]:
    return {"page": page, "coordinator": caller.id, "csrf": csrf_token(request)}


@router.get("/static/dashboard.css")
def stylesheet() -> Response:
    """The dashboard's only stylesheet, served by the hub itself."""
    css = (_TEMPLATES / "dashboard.css").read_text(encoding="utf-8")
    return Response(
        css, media_type="text/css", headers={**_HEADERS, "Cache-Control": "max-age=300"}
    )


@router.get("/login")
def login_form() -> HTMLResponse:
    """The login form: the coordinator's API token, once."""
    return _PAGES.render("dashboard_login.html", page="login", error=None)


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    state: StateDep,
    token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Check the coordinator's token and open a session (a cookie); never stores the token."""
    lifetime = timedelta(seconds=state.settings.dashboard_session_seconds)
    cookie = open_session(session, token, now=state.clock(), lifetime=lifetime)
    if cookie is None:
        return _PAGES.render(
            "dashboard_login.html",
            status=400,
            page="login",
            error="This token does not open the dashboard: use the network coordinator's token.",
        )
    response = RedirectResponse(f"{PREFIX}/", status_code=303, headers=_HEADERS)
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=int(lifetime.total_seconds()),
        path=PREFIX,
        secure=True,
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/logout")
def logout(
    request: Request,
    session: SessionDep,
    state: StateDep,
    caller: Caller,
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """End the session."""
    check_csrf(request, csrf)
    end_session(request, session, caller, now=state.clock())
    response = RedirectResponse(f"{PREFIX}/login", status_code=303, headers=_HEADERS)
    response.delete_cookie(COOKIE, path=PREFIX, secure=True, httponly=True, samesite="strict")
    return response


@router.get("/")
@router.get("")
def overview(request: Request, session: SessionDep, state: StateDep, caller: Caller) -> Response:
    """Deliveries per country and state; the audit log's signed tree head and last check."""
    now = state.clock()
    summary = delivery_summary(session, now=now, late_after=late_after(state.settings))
    return _PAGES.render(
        "dashboard_overview.html",
        **_base(request, caller, "overview"),
        summary=summary,
        states=list(summary.countries[0].states) if summary.countries else [],
        tree_head=audit.latest_tree_head(session),
        check=audit.last_check(session),
        now=now,
    )


@router.get("/deliveries")
def deliveries(
    request: Request,
    session: SessionDep,
    state: StateDep,
    caller: Caller,
    redriven: UUID | None = None,
) -> Response:
    """The late deliveries and the dead letters, each dead one with a re-drive button."""
    now = state.clock()
    found = open_deliveries(session, now=now, late_after=late_after(state.settings))
    return _PAGES.render(
        "dashboard_deliveries.html",
        **_base(request, caller, "deliveries"),
        late=[d for d in found if d.state != "dead"],
        dead=[d for d in found if d.state == "dead"],
        late_after=late_after(state.settings),
        redriven=str(redriven) if redriven else None,
    )


@router.post("/deliveries/{packet_id}/retry")
def retry(
    packet_id: UUID,
    request: Request,
    session: SessionDep,
    state: StateDep,
    caller: Caller,
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Re-drive a dead delivery (a new retry window from now), then show the list again."""
    check_csrf(request, csrf)
    redrive(session, packet_ids=[str(packet_id)], now=state.clock(), actor=caller.id)
    return RedirectResponse(
        f"{PREFIX}/deliveries?redriven={packet_id}", status_code=303, headers=_HEADERS
    )


@router.get("/latency")
def latency(
    request: Request,
    session: SessionDep,
    state: StateDep,
    caller: Caller,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> Response:
    """Intake-to-receipt time per country and day, as charts drawn by the hub; and this
    quarter's processing times, intake to the first triage decision (standard S2)."""
    now = state.clock()
    series = latency_series(session, now=now, days=days)
    quarter = Period.containing(now)
    processing = processing_times(
        session,
        start=quarter.start,
        end=quarter.end,
        now=now,
        limit_hours=late_after(state.settings) * 24,
    )
    return _PAGES.render(
        "dashboard_latency.html",
        **_base(request, caller, "latency"),
        series=series,
        charts=[_chart(country, series) for country in series.countries],
        days=days,
        processing=processing,
        quarter=quarter.name,
    )


@router.get("/quality")
def quality(
    request: Request,
    session: SessionDep,
    state: StateDep,
    caller: Caller,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
) -> Response:
    """The quality scorecard of each member country, with the evidence of each verdict."""
    now = state.clock()
    chosen = Period.parse(period) if period else Period.containing(now)
    report = compliance_report(
        session, period=chosen, now=now, judge=judge_for(state.settings, state.hub_keys)
    )
    return _PAGES.render(
        "dashboard_quality.html", **_base(request, caller, "quality"), report=report
    )


@router.get("/audit")
def audit_page(
    request: Request,
    session: SessionDep,
    state: StateDep,
    caller: Caller,
) -> Response:
    """The audit log: its newest signed tree head, its last verification, its newest entries."""
    return _PAGES.render(
        "dashboard_audit.html",
        **_base(request, caller, "audit"),
        tree_head=audit.latest_tree_head(session),
        check=audit.last_check(session),
        size=audit.tree_size(session),
        entries=audit.entries(session, limit=50, newest_first=True),
    )


@router.get("/annual")
def annual(
    request: Request,
    session: SessionDep,
    state: StateDep,
    caller: Caller,
    year: int | None = None,
    country: Annotated[str | None, Query(max_length=2)] = None,
) -> Response:
    """The annual report (standard S4): every line and the network, or one line, with charts."""
    now = state.clock()
    report = annual_report(
        session,
        year=now.year if year is None else year,
        now=now,
        limit_hours=processing_limit(state.settings),
        country=country or None,
    )
    return _PAGES.render(
        "dashboard_annual.html",
        **_base(request, caller, "annual"),
        report=report,
        views=annual_views(report),
        lines=lines_chart(report),
        members=member_countries(session),
        chosen=country or "",
        this_year=now.year,
    )


# Charts: SVG polylines, computed here


@dataclass(frozen=True)
class Chart:
    """One country's latency chart, in SVG coordinates."""

    country: str
    width: int
    height: int
    median: str
    p95: str
    dots: list[tuple[float, float, str]]
    y_ticks: list[tuple[float, str]]
    x_ticks: list[tuple[float, str]]
    delivered: int


_W, _H, _LEFT, _BOTTOM, _TOP, _RIGHT = 640, 220, 48, 28, 12, 12


def _chart(country: CountryLatency, series: LatencySeries) -> Chart:
    span = max((series.end - series.start).days, 1)
    top = max([p.p95_hours for p in country.points] + [1.0])
    top = _nice(top)

    def x(day_offset: int) -> float:
        return round(_LEFT + (_W - _LEFT - _RIGHT) * day_offset / span, 1)

    def y(hours: float) -> float:
        return round(_H - _BOTTOM - (_H - _BOTTOM - _TOP) * hours / top, 1)

    points = [((p.day - series.start).days, p) for p in country.points]
    return Chart(
        country=country.country,
        width=_W,
        height=_H,
        median=" ".join(f"{x(d)},{y(p.median_hours)}" for d, p in points),
        p95=" ".join(f"{x(d)},{y(p.p95_hours)}" for d, p in points),
        dots=[
            (
                x(d),
                y(p.median_hours),
                f"{p.day}: {p.delivered} delivered, median "
                f"{p.median_hours:.2f} h, p95 {p.p95_hours:.2f} h",
            )
            for d, p in points
        ],
        y_ticks=[(y(top * i / 4), f"{top * i / 4:g} h") for i in range(5)],
        x_ticks=[
            (x(d), (series.start + timedelta(days=d)).strftime("%d %b"))
            for d in range(0, span + 1, max(span // 6, 1))
        ],
        delivered=sum(p.delivered for p in country.points),
    )


def _nice(value: float) -> float:
    """A round axis maximum at or above `value`."""
    for step in (1, 2, 4, 6, 8, 12, 24, 48, 72, 96, 168, 336, 720):
        if value <= step:
            return float(step)
    return float(int(value) + 1)
