"""The hub's HTTP application: `create_app` opens the database, policy, keys and jobs in its
lifespan and includes one router per area. Only the `hub.http` package speaks HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import httpx
from fastapi import Depends, FastAPI
from sqlmodel import Session

from hub.delivery.jobs import start_jobs, wake_push
from hub.delivery.metrics import Metrics
from hub.delivery.push import PushWorker
from hub.http import (
    admin,
    coordinators,
    dashboard,
    evidence,
    forwards,
    operations,
    oversight,
    recipients,
    sources,
    triage,
)
from hub.http.deps import Clock, HubState, authorized, utc_now
from hub.http.middleware import BodyLimit, RequestLog, SecurityHeaders
from hub.http.problems import ERRORS, document_problems, install_error_handlers
from hub.http.strictjson import StrictJSON
from hub.intake.ratelimit import IntakeLimiter
from hub.logs import get_logger
from hub.network.keyring import load_hub_secrets
from hub.network.procedures import record_procedures
from hub.network.routing import load_policy
from hub.settings import Settings
from hub.store import make_engine

__all__ = ["SUMMARY", "create_app"]

log = get_logger(__name__)

# The summary of the OpenAPI document (it was the hub package's docstring).
SUMMARY = "The central router: intake, routing, sealing, delivery, receipts."


def create_app(
    settings: Settings, *, clock: Clock = utc_now, push_transport: httpx.BaseTransport | None = None
) -> FastAPI:
    """Build the hub's application; the database, policy, keys and jobs start in its lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.resolved_database_url)
        secrets, hub_keys = load_hub_secrets(settings)
        policy = load_policy(settings.routing_policy)
        with Session(engine) as session:
            if record_procedures(session, policy, clock()):
                log.info("procedures_changed", countries=sorted(policy.procedures))
        app.state.hub = HubState(
            settings=settings,
            engine=engine,
            policy=policy,
            secrets=secrets,
            hub_keys=hub_keys,
            clock=clock,
            metrics=Metrics(engine, clock=clock, high_water=settings.signed_head_file),
            limiter=IntakeLimiter(settings.intake_rate_limit),
            receipts_limiter=IntakeLimiter(settings.receipts_rate_limit, "receipts"),
            inbox_limiter=IntakeLimiter(settings.inbox_rate_limit, "inbox"),
        )
        worker = PushWorker(
            engine, settings, transport=push_transport, metrics=app.state.hub.metrics
        )
        scheduler = (
            start_jobs(engine, settings, worker, clock, app.state.hub.first_rounds)
            if settings.scheduler
            else None
        )
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
        summary=SUMMARY,
        version="1",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        swagger_ui_oauth2_redirect_url="/docs/oauth2-redirect" if docs else None,
        responses=ERRORS,
        # Every route, including those of routers included later, passes the authorization
        # table first (hub/http/authz.py): a route the table does not list is refused to everybody.
        dependencies=[Depends(authorized)],
    )
    install_error_handlers(app)
    app.add_middleware(StrictJSON)  # inside BodyLimit: it only reads bodies within the limit
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestLog)
    for area in (
        sources,
        recipients,
        forwards,
        triage,
        coordinators,
        evidence,
        operations,
        admin,
        oversight,
    ):
        app.include_router(area.router)
    dashboard.install(app)
    document_problems(app)
    return app
