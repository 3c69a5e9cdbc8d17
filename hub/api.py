"""The hub's HTTP API. The only module that speaks HTTP: routes, authentication, error mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated, Any, Literal
from uuid import UUID

import httpx
from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub import __doc__ as hub_summary
from hub import authz
from hub.credentials import (
    CREDENTIAL_ID_PATTERN,
    CredentialInfo,
    IssuedCredential,
    Principal,
    Role,
    authenticate,
    issue,
    list_credentials,
    revoke_credential,
    rotate_credential,
)
from hub.delivery import (
    DeliveryState,
    DeliveryStatus,
    Inbox,
    ReceiptBatch,
    ReceiptOutcome,
    ReportDeliveries,
    deliveries_in_state,
    lease_packets,
    record_receipts,
    redrive,
    report_deliveries,
)
from hub.directory import RecipientInfo, recipient_directory
from hub.errors import (
    ConfigurationError,
    Conflict,
    FieldError,
    Forbidden,
    HubError,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    NotReady,
    PacketInvalid,
    PayloadTooLarge,
    RateLimited,
    RoutingFailed,
)
from hub.intake import HubSecrets, IntakeAnswer, accept_report
from hub.keyring import load_hub_secrets
from hub.logs import get_logger
from hub.metrics import Metrics
from hub.middleware import BodyLimit, RequestLog, SecurityHeaders
from hub.push import PushWorker
from hub.ratelimit import IntakeLimiter
from hub.rotation import reseal_requests
from hub.routing import RoutingPolicy, load_policy
from hub.scheduler import start_jobs, wake_push
from hub.settings import Settings
from hub.store import make_engine
from hub.strictjson import StrictJSON
from schemas.envelope import PublishedHubKeys, RecipientId
from schemas.report import REPORTER_KINDS, Report

log = get_logger(__name__)

Clock = Callable[[], datetime]

_MAX_LIFETIME_SECONDS = 5 * 366 * 86400  # the longest a credential issued over the API lives


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


class Problem(BaseModel):
    """An error answer (RFC 9457 problem details) with the fields at fault."""

    model_config = ConfigDict(extra="forbid")

    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] = []


class ResealRequests(BaseModel):
    """Reports whose source should submit them again, unchanged, to be sealed to new keys."""

    report_ids: list[str]


class Redriven(BaseModel):
    """The deliveries given a new retry window."""

    packet_ids: list[str]


_STATUS: list[tuple[type[HubError], int, str]] = [
    (PayloadTooLarge, 413, "Payload too large"),
    (InvalidInput, 422, "Invalid input"),
    (NotAuthenticated, 401, "Not authenticated"),
    (Forbidden, 403, "Forbidden"),
    (RateLimited, 429, "Too many requests"),
    (NotFound, 404, "Not found"),
    (Conflict, 409, "Conflict"),
    (PacketInvalid, 422, "Signed object rejected"),
    (RoutingFailed, 503, "No recipient available"),
    (ConfigurationError, 503, "Hub misconfigured"),
    (NotReady, 503, "Not ready"),
    (HubError, 500, "Internal error"),
]

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": title}
    for status, title in {
        401: "Not authenticated",
        403: "Forbidden",
        413: "Payload too large",
        422: "Invalid input",
    }.items()
}

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def _document_problems(app: FastAPI) -> None:
    """Make the OpenAPI document say what the hub sends: every Problem as application/problem+json.

    FastAPI documents a `{"model": Problem}` response as application/json; the hub's errors are
    all sent as application/problem+json (RFC 9457), so each such response is relabelled, for
    routes added later too.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for response in operation.get("responses", {}).values():
                    content = response.get("content", {})
                    if content.get("application/json", {}).get("schema") == _PROBLEM_REF:
                        content["application/problem+json"] = content.pop("application/json")
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _problem(
    status: int,
    title: str,
    detail: str,
    errors: list[FieldError],
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        title=title,
        status=status,
        detail=detail,
        errors=[{"field": e.field, "reason": e.reason} for e in errors],
    )
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(
        body.model_dump(),
        status_code=status,
        headers=headers,
        media_type="application/problem+json",
    )


def _hub_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HubError)
    status, title = next((s, t) for cls, s, t in _STATUS if isinstance(exc, cls))
    errors = exc.errors if isinstance(exc, InvalidInput) else []
    detail = "internal error" if status == 500 else str(exc)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    return _problem(status, title, detail, errors, headers)


def _field_path(loc: tuple[int | str, ...]) -> str:
    """The dotted path of the JSON field at fault, as the client wrote it.

    Pydantic puts the tag of a tagged union in the path (`reporter.contact.email`); the JSON
    has no such level (`reporter.email`), so it is left out.
    """
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:]
    parts = [
        p
        for i, p in enumerate(parts)
        if not (i and parts[i - 1] == "reporter" and p in REPORTER_KINDS)
    ]
    return ".".join(parts) or "body"


def _field_error(error: Any) -> FieldError:
    """One of pydantic's errors, without the input it quotes: that may be report content.

    An unknown field is named by its parent's path only, since its name is input too.
    """
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        return FieldError(_field_path(loc[:-1]), "unknown field")
    return FieldError(_field_path(loc), str(error["msg"]))


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """Pydantic's errors, without the input values they quote: those may be report content."""
    assert isinstance(exc, RequestValidationError)
    errors = [_field_error(e) for e in exc.errors()]
    return _problem(422, "Invalid input", "the request does not match the schema", errors)


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own answers (404, 405) as problems, keeping their headers: a 405 says `Allow`."""
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else None
    return _problem(exc.status_code, str(exc.detail), str(exc.detail), [], headers)


def create_app(
    settings: Settings, *, clock: Clock = utc_now, push_transport: httpx.BaseTransport | None = None
) -> FastAPI:
    """Build the hub's application; the database, policy, keys and jobs start in its lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.resolved_database_url)
        secrets, hub_keys = load_hub_secrets(settings)
        app.state.hub = HubState(
            settings=settings,
            engine=engine,
            policy=load_policy(settings.routing_policy),
            secrets=secrets,
            hub_keys=hub_keys,
            clock=clock,
            metrics=Metrics(engine),
            limiter=IntakeLimiter(settings.intake_rate_limit),
            receipts_limiter=IntakeLimiter(settings.receipts_rate_limit, "receipts"),
            inbox_limiter=IntakeLimiter(settings.inbox_rate_limit, "inbox"),
        )
        worker = PushWorker(
            engine, settings, transport=push_transport, metrics=app.state.hub.metrics
        )
        scheduler = start_jobs(engine, settings, worker, clock) if settings.scheduler else None
        if scheduler is not None:
            app.state.hub.wake_push = partial(wake_push, scheduler)
        log.info("hub_started", database=engine.url.render_as_string(hide_password=True))
        yield
        if scheduler is not None:
            # Let a running push round finish and record its outcomes before the engine goes.
            scheduler.shutdown(wait=True)
        worker.close()
        engine.dispose()
        log.info("hub_stopped")

    # Swagger UI and ReDoc pages load their scripts from a public CDN: off unless a developer
    # asks for them, so a hub in service never runs third-party script on its own origin.
    docs = settings.api_docs
    app = FastAPI(
        title="CTT report-routing hub",
        summary=hub_summary,
        version="1",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        swagger_ui_oauth2_redirect_url="/docs/oauth2-redirect" if docs else None,
        responses=_ERRORS,
        # Every route, including those of routers included later, passes the authorization
        # table first (hub/authz.py): a route the table does not list is refused to everybody.
        dependencies=[Depends(_authorized)],
    )
    app.add_exception_handler(HubError, _hub_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(StrictJSON)  # inside BodyLimit: it only reads bodies within the limit
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestLog)
    _add_routes(app)
    _add_admin_routes(app)
    _include_oversight(app)
    _document_problems(app)
    return app


def _include_oversight(app: FastAPI) -> None:
    """The audit log, compliance and feedback routes, and the coordinators' dashboard.

    Their routers live in their own modules and use this module's dependencies, so they are
    imported here, once this module is complete.
    """
    from hub import dashboard, oversight_api

    app.include_router(oversight_api.router)
    dashboard.install(app)


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


async def _authorized(request: Request, session: SessionDep, state: StateDep) -> None:
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
        from hub.dashboard import session_caller

        caller = await run_in_threadpool(session_caller, request, session, now=state.clock())
    else:
        caller = await run_in_threadpool(authenticate, session, token, now=state.clock())
    authz.authorize(endpoint, caller)
    request.state.caller = caller


async def _caller(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller `_authorized` let through (declaring the bearer scheme in the OpenAPI)."""
    caller = getattr(request.state, "caller", None)
    if not isinstance(caller, Principal):
        raise NotAuthenticated("an Authorization: Bearer token is required")
    return caller


Caller = Annotated[Principal, Depends(_caller)]

# Who may call a route is the table's to say, not the parameter's: these names are kept so that
# a route reads as who it is for.
_principal = _source = _recipient = _coordinator = _administrator = _caller


async def _intake_rate(caller: Caller, state: StateDep) -> None:
    """Count one submission against the caller's rate; RateLimited (429) beyond it."""
    state.limiter.hit(caller.id)


async def _receipts_rate(caller: Caller, state: StateDep) -> None:
    """Count one receipt batch against the recipient's rate; RateLimited (429) beyond it."""
    state.receipts_limiter.hit(caller.id)


async def _inbox_rate(caller: Caller, state: StateDep) -> None:
    """Count one pull against the recipient's rate; RateLimited (429) beyond it."""
    state.inbox_limiter.hit(caller.id)


def _limited(setting: str) -> dict[int | str, dict[str, Any]]:
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


def _add_routes(app: FastAPI) -> None:
    @app.post(
        "/v1/reports",
        status_code=202,
        response_model=IntakeAnswer,
        responses={
            409: {"model": Problem, "description": "Report id used for other content"},
            429: {
                "model": Problem,
                "description": "Over the source's rate (HUB_INTAKE_RATE_LIMIT)",
                "headers": {
                    "Retry-After": {
                        "description": "Seconds until a submission is accepted again",
                        "schema": {"type": "integer", "minimum": 1},
                    }
                },
            },
            503: {"model": Problem, "description": "No recipient can receive it now"},
        },
        dependencies=[Depends(_intake_rate)],
        tags=["sources"],
    )
    def submit_report(
        report: Report,
        session: SessionDep,
        state: StateDep,
        caller: Annotated[Principal, Depends(_source)],
    ) -> IntakeAnswer:
        """Accept a report: route it, seal it per recipient, and acknowledge it (idempotent)."""
        answer = accept_report(
            session,
            report=report,
            caller=caller,
            policy=state.policy,
            secrets=state.secrets,
            now=state.clock(),
        )
        state.wake_push()  # push recipients get their packets now, not at the next interval
        return answer

    @app.get("/v1/reseal-requests", response_model=ResealRequests, tags=["sources"])
    def reseal(
        session: SessionDep, caller: Annotated[Principal, Depends(_source)]
    ) -> ResealRequests:
        """Reports to send again unchanged: a recipient's key was revoked before delivery."""
        return ResealRequests(report_ids=reseal_requests(session, caller.id))

    @app.get(
        "/v1/inbox",
        response_model=Inbox,
        responses=_limited("HUB_INBOX_RATE_LIMIT"),
        dependencies=[Depends(_inbox_rate)],
        tags=["recipients"],
    )
    def inbox(
        session: SessionDep,
        state: StateDep,
        caller: Annotated[Principal, Depends(_recipient)],
        limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    ) -> Inbox:
        """Lease the caller's undelivered packets; unreceipted ones are offered again later."""
        return lease_packets(
            session,
            recipient_id=caller.id,
            now=state.clock(),
            lease=timedelta(seconds=state.settings.lease_seconds),
            limit=min(limit or state.settings.inbox_limit, state.settings.inbox_limit),
        )

    @app.post(
        "/v1/receipts",
        response_model=ReceiptOutcome,
        responses=_limited("HUB_RECEIPTS_RATE_LIMIT"),
        dependencies=[Depends(_receipts_rate)],
        tags=["recipients"],
    )
    def receipts(
        batch: ReceiptBatch,
        session: SessionDep,
        state: StateDep,
        caller: Annotated[Principal, Depends(_recipient)],
    ) -> ReceiptOutcome:
        """Record signed receipts; all are verified before any is recorded."""
        recorded = record_receipts(session, recipient_id=caller.id, batch=batch, now=state.clock())
        state.metrics.observe_deliveries(recorded.latencies)
        return recorded.outcome

    @app.get(
        "/v1/reports/{report_id}/deliveries",
        response_model=ReportDeliveries,
        responses={404: {"model": Problem, "description": "No such report"}},
        tags=["coordinators"],
    )
    def deliveries(
        report_id: UUID,
        session: SessionDep,
        state: StateDep,
        _caller: Annotated[Principal, Depends(_coordinator)],
    ) -> ReportDeliveries:
        """Where each packet of a report is: state, times and receipt; never content."""
        return report_deliveries(session, report_id=str(report_id), now=state.clock())

    @app.get("/v1/deliveries", response_model=list[DeliveryStatus], tags=["coordinators"])
    def deliveries_by_state(
        session: SessionDep,
        state: StateDep,
        _caller: Annotated[Principal, Depends(_coordinator)],
        delivery_state: Annotated[DeliveryState, Query(alias="state")] = DeliveryState.dead,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[DeliveryStatus]:
        """Deliveries in one state, oldest first: by default the dead letters."""
        return deliveries_in_state(session, state=delivery_state, now=state.clock(), limit=limit)

    @app.post(
        "/v1/deliveries/{packet_id}/retry",
        response_model=Redriven,
        responses={404: {"model": Problem, "description": "Not dead, or purged"}},
        tags=["coordinators"],
    )
    def retry_delivery(
        packet_id: UUID,
        session: SessionDep,
        state: StateDep,
        _caller: Annotated[Principal, Depends(_coordinator)],
    ) -> Redriven:
        """Re-drive a dead delivery: a new retry window starts now."""
        return Redriven(
            packet_ids=redrive(
                session, packet_ids=[str(packet_id)], now=state.clock(), actor=_caller.id
            )
        )

    @app.get("/v1/hub/keys", response_model=PublishedHubKeys, tags=["public"])
    @app.get("/.well-known/ctt-hub-keys.json", response_model=PublishedHubKeys, tags=["public"])
    def hub_keys(state: StateDep) -> PublishedHubKeys:
        """Every signing key the hub has used, with its validity and the endorsement by the
        key before it."""
        return state.hub_keys

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["operations"],
        responses={503: {"model": Problem, "description": "Database unreachable"}},
    )
    def readyz(state: StateDep) -> dict[str, str]:
        """The database answers and the hub's keys are loaded: send traffic here."""
        try:
            with state.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise NotReady("the database does not answer") from exc
        return {"status": "ready", "hub_key": state.hub_keys.keys[-1].key_id}

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    def metrics(state: StateDep) -> PlainTextResponse:
        """Prometheus metrics."""
        return PlainTextResponse(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)


class CredentialRequest(BaseModel):
    """A new credential for a registered source or recipient (administrators' credentials are
    issued on the hub's machine only, with `hub credentials issue`)."""

    model_config = ConfigDict(extra="forbid")

    role: Literal[Role.source, Role.recipient]
    principal_id: RecipientId
    expires_in_seconds: int | None = Field(None, ge=1, le=_MAX_LIFETIME_SECONDS)


class RotationRequest(BaseModel):
    """How long the old token keeps working beside the new one, and the new one's lifetime."""

    model_config = ConfigDict(extra="forbid")

    overlap_seconds: int = Field(3600, ge=0, le=30 * 86400)
    expires_in_seconds: int | None = Field(None, ge=1, le=_MAX_LIFETIME_SECONDS)


CredentialId = Annotated[str, PathParam(pattern=CREDENTIAL_ID_PATTERN)]


def _expiry(now: datetime, seconds: int | None) -> datetime | None:
    return None if seconds is None else now + timedelta(seconds=seconds)


def _add_admin_routes(app: FastAPI) -> None:
    unknown: dict[int | str, dict[str, Any]] = {
        404: {"model": Problem, "description": "No such credential or principal"}
    }

    @app.get("/v1/admin/credentials", response_model=list[CredentialInfo], tags=["administrators"])
    def credentials(
        session: SessionDep,
        _caller: Annotated[Principal, Depends(_administrator)],
        principal_id: Annotated[RecipientId | None, Query()] = None,
    ) -> list[CredentialInfo]:
        """Every credential (or one principal's): ids, roles and times; never a token."""
        return list_credentials(session, principal_id=principal_id)

    @app.post(
        "/v1/admin/credentials",
        status_code=201,
        response_model=IssuedCredential,
        responses=unknown,
        tags=["administrators"],
    )
    def issue_credential(
        request: CredentialRequest,
        session: SessionDep,
        state: StateDep,
        _caller: Annotated[Principal, Depends(_administrator)],
    ) -> IssuedCredential:
        """Issue a token to a source or recipient; the answer is the only place it appears."""
        now = state.clock()
        return issue(
            session,
            Role(request.role),
            request.principal_id,
            now,
            expires_at=_expiry(now, request.expires_in_seconds),
        )

    @app.post(
        "/v1/admin/credentials/{credential_id}/revoke",
        response_model=CredentialInfo,
        responses=unknown,
        tags=["administrators"],
    )
    def revoke(
        credential_id: CredentialId,
        session: SessionDep,
        state: StateDep,
        _caller: Annotated[Principal, Depends(_administrator)],
    ) -> CredentialInfo:
        """Revoke a credential at once."""
        return revoke_credential(session, credential_id, state.clock())

    @app.post(
        "/v1/admin/credentials/{credential_id}/rotate",
        status_code=201,
        response_model=IssuedCredential,
        responses=unknown,
        tags=["administrators"],
    )
    def rotate(
        credential_id: CredentialId,
        session: SessionDep,
        state: StateDep,
        _caller: Annotated[Principal, Depends(_administrator)],
        rotation: RotationRequest | None = None,
    ) -> IssuedCredential:
        """A new token for the same principal; the old one ends after the overlap."""
        rotation = rotation or RotationRequest()
        now = state.clock()
        return rotate_credential(
            session,
            credential_id,
            now,
            overlap=timedelta(seconds=rotation.overlap_seconds),
            expires_at=_expiry(now, rotation.expires_in_seconds),
            allow_administrator=False,
        )

    @app.get("/v1/admin/recipients", response_model=list[RecipientInfo], tags=["administrators"])
    def recipients(
        session: SessionDep, _caller: Annotated[Principal, Depends(_administrator)]
    ) -> list[RecipientInfo]:
        """Every recipient with its delivery mode and public keys; never a webhook secret."""
        return recipient_directory(session)
