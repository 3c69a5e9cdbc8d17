"""The hub's HTTP API. The only module that speaks HTTP: routes, authentication, error mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated, Any
from uuid import UUID

import httpx
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub import __doc__ as hub_summary
from hub.credentials import Principal, Role, authenticate
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
    RoutingFailed,
)
from hub.intake import HubSecrets, IntakeAnswer, accept_report
from hub.keyring import load_hub_secrets
from hub.logs import get_logger
from hub.metrics import Metrics
from hub.middleware import BodyLimit, RequestLog
from hub.push import PushWorker
from hub.rotation import reseal_requests
from hub.routing import RecipientKind, RoutingPolicy, load_policy
from hub.scheduler import start_jobs, wake_push
from hub.settings import Settings
from hub.store import make_engine
from schemas.envelope import PublishedHubKeys
from schemas.report import Report

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


def _problem(status: int, title: str, detail: str, errors: list[FieldError]) -> JSONResponse:
    body = Problem(
        title=title,
        status=status,
        detail=detail,
        errors=[{"field": e.field, "reason": e.reason} for e in errors],
    )
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
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
    return _problem(status, title, detail, errors)


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """Pydantic's errors, without the input values they quote: those may be report content."""
    assert isinstance(exc, RequestValidationError)
    errors = [FieldError(_field_path(tuple(e["loc"])), str(e["msg"])) for e in exc.errors()]
    return _problem(422, "Invalid input", "the request does not match the schema", errors)


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return _problem(exc.status_code, str(exc.detail), str(exc.detail), [])


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

    app = FastAPI(
        title="CTT report-routing hub",
        summary=hub_summary,
        version="1",
        lifespan=lifespan,
        responses=_ERRORS,
    )
    app.add_exception_handler(HubError, _hub_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(RequestLog)
    _add_routes(app)
    return app


def _state(request: Request) -> HubState:
    state: HubState = request.app.state.hub
    return state


def _session(request: Request) -> Any:
    with Session(_state(request).engine, expire_on_commit=False) as session:
        yield session


_bearer = HTTPBearer(auto_error=False, description="A source's or recipient's API token.")

SessionDep = Annotated[Session, Depends(_session)]
StateDep = Annotated[HubState, Depends(_state)]


def _principal(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise NotAuthenticated("an Authorization: Bearer token is required")
    return authenticate(session, credentials.credentials)


def _source(caller: Annotated[Principal, Depends(_principal)]) -> Principal:
    if caller.role is not Role.source:
        raise Forbidden("only a source may submit reports")
    return caller


def _recipient(caller: Annotated[Principal, Depends(_principal)]) -> Principal:
    if caller.role is not Role.recipient:
        raise Forbidden("only a recipient has an inbox")
    return caller


def _coordinator(caller: Annotated[Principal, Depends(_recipient)]) -> Principal:
    if caller.recipient_kind != RecipientKind.coordinator:
        raise Forbidden("only a coordinator may see delivery status")
    return caller


def _add_routes(app: FastAPI) -> None:
    @app.post(
        "/v1/reports",
        status_code=202,
        response_model=IntakeAnswer,
        responses={409: {"model": Problem, "description": "Report id used for other content"}},
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

    @app.get("/v1/inbox", response_model=Inbox, tags=["recipients"])
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

    @app.post("/v1/receipts", response_model=ReceiptOutcome, tags=["recipients"])
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
        return Redriven(packet_ids=redrive(session, packet_ids=[str(packet_id)], now=state.clock()))

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
