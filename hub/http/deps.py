"""What every router shares: the hub's state, a database session per request, and the caller
the authorization table (hub/http/authz.py) let through.

Routers import these; nothing here imports a router, so the routers and the app stand above it.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from hub.delivery.metrics import Metrics
from hub.errors import Forbidden, NotAuthenticated
from hub.http import authz
from hub.http.problems import Problem
from hub.http.sessions import session_caller
from hub.intake.ratelimit import IntakeLimiter
from hub.logs import get_logger
from hub.network.credentials import Principal, authenticate
from hub.network.keyring import HubSecrets
from hub.network.routing import RoutingPolicy
from hub.settings import Settings
from schemas.envelope import PublishedHubKeys

__all__ = [
    "Administrator",
    "Caller",
    "Clock",
    "Coordinator",
    "HubState",
    "Recipient",
    "SessionDep",
    "Source",
    "StateDep",
    "authorized",
    "intake_rate",
    "utc_now",
]

log = get_logger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class HubState:
    """What the routes share: opened in the lifespan, closed at shutdown."""

    settings: Settings
    engine: Engine
    policy: RoutingPolicy
    secrets: HubSecrets
    hub_keys: PublishedHubKeys
    clock: Clock
    metrics: Metrics
    limiter: IntakeLimiter
    receipts_limiter: IntakeLimiter
    inbox_limiter: IntakeLimiter
    wake_push: Callable[[], None] = lambda: None
    # Set once each background job has run its first round (never, without the scheduler).
    first_rounds: threading.Event = field(default_factory=threading.Event)


# Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency on a worker
# thread, and each such hop cost more than the work it carried (docs/benchmark.md).
async def _state(request: Request) -> HubState:
    state: HubState = request.app.state.hub
    return state


async def _session(request: Request) -> AsyncIterator[Session]:
    """A session per request. Opening one does no I/O. Closing one that still holds a transaction
    rolls it back, which may talk to the database, so that happens on a worker thread."""
    session = Session(request.app.state.hub.engine, expire_on_commit=False)
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


_bearer = HTTPBearer(
    auto_error=False,
    description="An API token: hubsrc_ (source), hubrcp_ (recipient) or hubadm_ (administrator).",
)

SessionDep = Annotated[Session, Depends(_session)]
StateDep = Annotated[HubState, Depends(_state)]


async def authorized(request: Request, session: SessionDep, state: StateDep) -> None:
    """Apply the authorization table to the matched route: 401, 403, or let the call through.

    Runs before any other dependency of every route. The caller it finds is kept on the request
    for the route's own `Caller` parameter.
    """
    route = request.scope.get("route")
    try:
        endpoint = authz.endpoint_for(request.method, getattr(route, "path", ""))
    except authz.NotInTable:
        log.error(
            "route_not_in_authorization_table",
            method=request.method,
            path=getattr(route, "path", None),
        )
        raise Forbidden("this endpoint is not in the authorization table") from None
    if endpoint.public:
        return
    scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
    if scheme.lower() != "bearer" or not token:
        # A browser on the dashboard's pages (only there) shows its login session's cookie.
        caller = await run_in_threadpool(session_caller, request, session, now=state.clock())
    else:
        caller = await run_in_threadpool(authenticate, session, token, now=state.clock())
    authz.authorize(endpoint, caller)
    request.state.caller = caller


async def _caller(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller `authorized` let through (declaring the bearer scheme in the OpenAPI)."""
    caller = getattr(request.state, "caller", None)
    if not isinstance(caller, Principal):
        raise NotAuthenticated("an Authorization: Bearer token is required")
    return caller


Caller = Annotated[Principal, Depends(_caller)]
# Report ids are the sources' own: a recipient that received one id from two sources names the
# source too (hub/delivery/report_keys.py); otherwise it leaves this out.
OfSource = Annotated[
    str | None,
    Query(
        alias="source",
        max_length=63,
        pattern=r"^[a-z0-9][a-z0-9-]{1,62}$",
        description="The report's source; needed only if the caller received this report id "
        "from several sources (409 otherwise).",
    ),
]

# Who may call a route is the table's to say, not the parameter's: these names are kept so that
# a route reads as who it is for.
Source = Caller
Recipient = Caller
Coordinator = Caller
Administrator = Caller


async def intake_rate(caller: Caller, state: StateDep) -> None:
    """Count one submission against the caller's rate; RateLimited (429) beyond it."""
    state.limiter.hit(caller.id)


async def receipts_rate(caller: Caller, state: StateDep) -> None:
    """Count one receipt batch against the recipient's rate; RateLimited (429) beyond it."""
    state.receipts_limiter.hit(caller.id)


async def inbox_rate(caller: Caller, state: StateDep) -> None:
    """Count one pull against the recipient's rate; RateLimited (429) beyond it."""
    state.inbox_limiter.hit(caller.id)


def limited(setting: str) -> dict[int | str, dict[str, Any]]:
    """The 429 answer of a rate-limited route, documented once."""
    return {
        429: {
            "model": Problem,
            "description": f"Over the caller's rate ({setting})",
            "headers": {
                "Retry-After": {
                    "description": "Seconds until a request is accepted again",
                    "schema": {"type": "integer", "minimum": 1},
                }
            },
        }
    }
