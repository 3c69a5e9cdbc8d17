"""Our errors as HTTP answers, in this one place: RFC 9457 problem documents, and the OpenAPI
document saying so. Domain code raises hub/errors.py's tree; the app installs these handlers."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

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
    NotYetCovered,
    PacketInvalid,
    PayloadTooLarge,
    RateLimited,
    RoutingFailed,
)
from hub.logs import get_logger
from hub.validation import field_errors

__all__ = ["ERRORS", "Problem", "document_problems", "install_error_handlers", "problem"]


class Problem(BaseModel):
    """An error answer (RFC 9457 problem details) with the fields at fault."""

    model_config = ConfigDict(extra="forbid")

    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] = []


RETRY_UNAVAILABLE_SECONDS = 300
# What a caller is told of a ConfigurationError: its message may name a server path or a key
# file, which the operator reads in the hub's log (`configuration_error`) and nobody else.
MISCONFIGURED = "the hub cannot serve this now; its operator is told why in the hub's log"

log = get_logger(__name__)

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

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": title}
    for status, title in {
        401: "Not authenticated",
        403: "Forbidden",
        413: "Payload too large",
        422: "Invalid input",
    }.items()
}

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def document_problems(app: FastAPI) -> None:
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
                if "security" not in operation:  # public: nobody is refused for who they are
                    for status in ("401", "403"):
                        operation.get("responses", {}).pop(status, None)
                for response in operation.get("responses", {}).values():
                    content = response.get("content", {})
                    if content.get("application/json", {}).get("schema") == _PROBLEM_REF:
                        content["application/problem+json"] = content.pop("application/json")
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def problem(
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
    if isinstance(exc, ConfigurationError):
        log.error("configuration_error", cause=str(exc))
        detail = MISCONFIGURED
    headers = None
    if isinstance(exc, RateLimited | NotYetCovered):  # both say when to ask again
        headers = {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, RoutingFailed | ConfigurationError):
        # Nobody routed can receive the report now: the source keeps it and tries again later.
        headers = {"Retry-After": str(RETRY_UNAVAILABLE_SECONDS)}
    return problem(status, title, detail, errors, headers)


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """Pydantic's errors, each a path and a fixed reason (hub/validation.py): never the input,
    which may be report content."""
    assert isinstance(exc, RequestValidationError)
    errors = field_errors(exc.errors())
    return problem(422, "Invalid input", "the request does not match the schema", errors)


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own answers (404, 405) as problems, keeping their headers: a 405 says `Allow`."""
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else None
    return problem(exc.status_code, str(exc.detail), str(exc.detail), [], headers)


def install_error_handlers(app: FastAPI) -> None:
    """Every error the app can answer with, as a problem document."""
    app.add_exception_handler(HubError, _hub_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
