"""The reading room's login: one-time codes printed to the terminal, sessions kept in memory.

Whoever started `connector room` sees a login code on its terminal; the code opens one session
and is spent, and a fresh code is printed for the next login. So the code left in a terminal's
scroll-back or typed into a shared browser opens nothing twice, and nothing of the login is ever
on disk: sessions live in the room's memory and end with it. A session is a random cookie of
which only the SHA-256 is kept, with its CSRF token; it ends after `idle` without a request,
after `lifetime` in any case, and at logout (server-side: the old cookie opens nothing after).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

__all__ = ["COOKIE", "LoginSession", "Sessions"]

COOKIE = "connector_room"
IDLE = timedelta(minutes=15)
LIFETIME = timedelta(hours=8)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class LoginSession:
    """One browser's login: its CSRF token and when it ends."""

    csrf: str
    started_at: datetime
    last_seen: datetime


class Sessions:
    """The room's login codes and sessions, in memory, safe across the server's threads."""

    def __init__(
        self,
        on_code: Callable[[str], None],
        *,
        idle: timedelta = IDLE,
        lifetime: timedelta = LIFETIME,
    ) -> None:
        self._on_code = on_code
        self._idle, self._lifetime = idle, lifetime
        self._lock = threading.Lock()
        self._sessions: dict[str, LoginSession] = {}
        self._code_digest = ""
        self.new_code()

    def new_code(self) -> None:
        """Make a fresh one-time code, the previous one spent, and hand it to `on_code`."""
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._code_digest = _digest(code)
        self._on_code(code)

    def log_in(self, code: str, *, now: datetime) -> str | None:
        """Spend the one-time code and open a session: its cookie, or None for a wrong code."""
        with self._lock:
            if not code or not hmac.compare_digest(_digest(code), self._code_digest):
                return None
            self._code_digest = ""
            cookie = secrets.token_urlsafe(32)
            self._sessions = {
                key: value for key, value in self._sessions.items() if self._live(value, now)
            }
            self._sessions[_digest(cookie)] = LoginSession(
                csrf=secrets.token_urlsafe(32), started_at=now, last_seen=now
            )
        self.new_code()
        return cookie

    def _live(self, session: LoginSession, now: datetime) -> bool:
        return now < session.last_seen + self._idle and now < session.started_at + self._lifetime

    def find(self, cookie: str | None, *, now: datetime) -> LoginSession | None:
        """The live session of a cookie, its idle time restarted; None if there is none."""
        if not cookie:
            return None
        key = _digest(cookie)
        with self._lock:
            found = self._sessions.get(key)
            if found is None:
                return None
            if not self._live(found, now):
                del self._sessions[key]
                return None
            self._sessions[key] = replace(found, last_seen=now)
            return found

    def log_out(self, cookie: str | None) -> None:
        """End the cookie's session: the same cookie opens nothing after."""
        if cookie:
            with self._lock:
                self._sessions.pop(_digest(cookie), None)

    @staticmethod
    def csrf_matches(session: LoginSession, given: str) -> bool:
        """Whether a posted form carries the session's CSRF token."""
        return bool(given) and hmac.compare_digest(session.csrf, given)
