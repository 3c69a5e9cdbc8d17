"""Public and operations routes: the hub's published keys, liveness, readiness, metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from hub.errors import NotReady
from hub.http.deps import StateDep
from hub.http.problems import Problem
from hub.http.readiness import unready_data_files
from schemas.envelope import PublishedHubKeys

__all__ = ["router"]

router = APIRouter()


@router.get("/v1/hub/keys", response_model=PublishedHubKeys, tags=["public"])
@router.get("/.well-known/ctt-hub-keys.json", response_model=PublishedHubKeys, tags=["public"])
def hub_keys(state: StateDep) -> PublishedHubKeys:
    """Every signing key the hub has used, with its validity and the endorsement by the
    key before it."""
    return state.hub_keys


@router.get("/healthz", tags=["operations"])
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    tags=["operations"],
    responses={
        503: {"model": Problem, "description": "Database unreachable, or a data file unusable"}
    },
)
def readyz(state: StateDep) -> dict[str, str]:
    """The database answers, the hub's keys are loaded and every data file it reads while it
    serves can be read and parsed: send traffic here. A 503 names what is wrong, never a path."""
    try:
        with state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise NotReady("the database does not answer") from exc
    unready = unready_data_files(state.settings)
    if unready:
        raise NotReady(f"cannot read or parse {'; '.join(unready)}")
    return {"status": "ready", "hub_key": state.hub_keys.keys[-1].key_id}


@router.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
def metrics(state: StateDep) -> PlainTextResponse:
    """Prometheus metrics."""
    return PlainTextResponse(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
