"""What the reading room trusts: loopback only, its own Host and Origin, and strict headers.

The room listens on 127.0.0.1 and nowhere else (`check_loopback`). A request must name the
room itself in its Host header, so a page elsewhere cannot reach it through a DNS name that
resolves to 127.0.0.1 (DNS rebinding); a POST must come from the room's own origin as well
(`Origin`, or `Sec-Fetch-Site: same-origin`), on top of its session's CSRF token. Every answer
carries headers at least as strict as the hub dashboard's: nothing loads from elsewhere, no
script runs, no frame, no referrer, no caching.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.responses import PlainTextResponse, Response

from connectors.errors import RoomRefused
from hub.logs import get_logger

__all__ = ["HEADERS", "LOOPBACK", "check_loopback", "guard"]

LOOPBACK = "127.0.0.1"

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}
log = get_logger(__name__)

_WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def check_loopback(host: str) -> str:
    """The address to listen on: 127.0.0.1, and nothing else. Raises RoomRefused otherwise."""
    if host != LOOPBACK:
        raise RoomRefused(
            f"the reading room listens on {LOOPBACK} only, not on {host!r}: reports are read on "
            "this machine"
        )
    return host


def _own_host(request: Request) -> str:
    server = request.scope.get("server")
    port = server[1] if server else None
    return f"{LOOPBACK}:{port}" if port else LOOPBACK


def _same_origin(request: Request, own: str) -> bool:
    """Whether a write comes from the room's own pages, as the browser says.

    A browser names the page's origin in `Origin`, except that under `Referrer-Policy:
    no-referrer` Chromium sends `Origin: null`; `Sec-Fetch-Site`, which no page can set, then
    says whether the form was the room's own. Neither signal may name another site.
    """
    origin = request.headers.get("origin")
    site = request.headers.get("sec-fetch-site")
    if origin not in (None, "null", own) or site not in (None, "same-origin"):
        return False
    return origin == own or site == "same-origin"


def _refused(reason: str) -> Response:
    return PlainTextResponse(reason, status_code=403, headers=HEADERS)


async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Refuse a request for another host or a write from another origin; add the headers."""
    own = _own_host(request)
    if request.headers.get("host") != own:
        return _refused("this is the reading room on " + own + ": open it by that address")
    if request.method in _WRITES and not _same_origin(request, f"http://{own}"):
        return _refused("a form from another page: open the reading room and try again")
    try:
        response = await call_next(request)
    except Exception as exc:
        # One line, and the error's type only in the log: a traceback could show a report.
        log.error("room_request_failed", path=request.url.path, error=type(exc).__name__)
        response = PlainTextResponse(
            "the reading room could not answer this request; nothing more is shown here",
            status_code=500,
        )
    for name, value in HEADERS.items():
        response.headers[name] = value
    return response
