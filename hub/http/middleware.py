"""ASGI middleware: a cap on request bodies, a request log, a last-resort error guard, and the
security headers of every answer."""

from __future__ import annotations

import time
import traceback

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.logs import get_logger

log = get_logger(__name__)


async def _send_json(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Refuse bodies over `limit` bytes with 413, before the application reads any of it.

    The body is read here (at most limit + 1 bytes) and replayed to the application, so a
    chunked request without Content-Length is held to the same limit.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        body = (
            b'{"title":"Payload too large","status":413,'
            b'"detail":"the request body is larger than %d bytes",'
            b'"errors":[{"field":"body","reason":"larger than %d bytes"}]}'
            % (self.limit, self.limit)
        )
        await _send_json(send, 413, body)


def _frames(exc: BaseException) -> list[str]:
    """Where an exception passed in the project's own code, and where it was raised."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames[:-1] if "site-packages" not in f.filename]
    return [f"{f.filename}:{f.lineno}:{f.name}" for f in [*own, frames[-1]]] if frames else []


class RequestLog:
    """Log each request's method, path, status and duration; and turn any crash into a bare 500.

    A crash is logged with its exception type and frames only: an exception's message could
    quote a report being handled, so it is never written.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        response_started = False

        async def watch(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            log.error("request_crashed", error=type(exc).__name__, frames=_frames(exc))
            status = 500
            if not response_started:
                await _send_json(
                    send, 500, b'{"title":"Internal error","status":500,"detail":"internal error"}'
                )
        log.info(
            "request",
            method=scope["method"],
            path=scope["path"],
            status=status,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )


# The API answers JSON and nothing on it should ever run or be framed.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
# /docs and /redoc (HUB_API_DOCS, development only): their pages come from FastAPI, load Swagger
# UI and ReDoc from jsDelivr and start them with an inline script; nothing else is allowed.
DOCS_CSP = (
    "default-src 'none'; script-src https://cdn.jsdelivr.net 'unsafe-inline'; "
    "style-src https://cdn.jsdelivr.net https://fonts.googleapis.com 'unsafe-inline'; "
    "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
    "https://cdn.redoc.ly; connect-src 'self'; worker-src blob:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)
_DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})


class SecurityHeaders:
    """Give every answer a Content-Security-Policy and nosniff, unless the route set its own
    (the dashboard's pages do)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = (DOCS_CSP if scope["path"] in _DOCS_PATHS else API_CSP).encode()

        async def add(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", policy))
                if b"x-content-type-options" not in names:
                    headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, add)
