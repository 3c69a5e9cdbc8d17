"""The dashboard's login sessions: the coordinator a session cookie stands for.

A random cookie whose SHA-256 the hub keeps with the credential's id, so that revoking the
credential ends the session. `hub.http.deps` takes it for a bearer token on the dashboard's
pages only. Opening a session (the login), ending one (the logout) and the forms' CSRF check
are here too, as plain functions that `hub.http.dashboard`'s routes call: what guards the
dashboard is in one module, the one `make mutants` mutates (docs/mutants.md).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from fastapi import Request
from sqlalchemy import delete
from sqlmodel import Session, select

from hub.audit.events import OperatorAction
from hub.audit.log import record
from hub.errors import InvalidInput, NotAuthenticated
from hub.network.credentials import Principal, Role, authenticate
from hub.network.routing import RecipientKind
from hub.store import CredentialRow, DashboardSessionRow, RecipientRow

__all__ = [
    "COOKIE",
    "PREFIX",
    "LoginRequired",
    "check_csrf",
    "csrf_token",
    "digest",
    "end_session",
    "open_session",
    "session_caller",
]

PREFIX = "/dashboard"
COOKIE = "hub_dashboard"


class LoginRequired(NotAuthenticated):
    """A dashboard page asked for without a valid login session."""


# Sessions


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def session_caller(request: Request, session: Session, *, now: datetime) -> Principal:
    """The coordinator whose dashboard session cookie the request shows.

    Only on the dashboard's pages: anywhere else a request without a bearer token is refused as
    before. Raises NotAuthenticated off the dashboard, LoginRequired on it without a live
    session of a credential that is still valid.
    """
    if not request.url.path.startswith(PREFIX + "/") and request.url.path != PREFIX:
        raise NotAuthenticated("an Authorization: Bearer token is required")
    token = request.cookies.get(COOKIE)
    row = session.get(DashboardSessionRow, digest(token)) if token else None
    if row is None or row.expires_at <= now:
        raise LoginRequired("log in to the dashboard with the coordinator's token")
    # The login's credential must still be valid: revoking it ends the session.
    credential = session.exec(
        select(CredentialRow).where(CredentialRow.credential_id == row.credential_id)
    ).first()
    recipient = session.get(RecipientRow, row.coordinator_id)
    if (
        credential is None
        or credential.revoked_at is not None
        or (credential.expires_at is not None and credential.expires_at <= now)
        or recipient is None
    ):
        raise LoginRequired("the login's credential is no longer valid")
    request.state.dashboard_session = row
    return Principal(Role.recipient, recipient.id, recipient.kind, credential_id=row.credential_id)


def open_session(session: Session, token: str, *, now: datetime, lifetime: timedelta) -> str | None:
    """Open a session for the network coordinator's API token and return its cookie, or None for
    any other token; keeps the cookie's hash only, never the token, and drops expired sessions."""
    try:
        caller = authenticate(session, token.strip(), now=now)
    except NotAuthenticated:
        return None
    if caller.recipient_kind != RecipientKind.coordinator or caller.credential_id is None:
        return None
    cookie = secrets.token_urlsafe(32)
    session.add(
        DashboardSessionRow(
            token_hash=digest(cookie),
            coordinator_id=caller.id,
            credential_id=caller.credential_id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    session.execute(delete(DashboardSessionRow).where(DashboardSessionRow.expires_at <= now))  # type: ignore[arg-type]
    record(
        session,
        OperatorAction(actor=caller.id, role="coordinator", action="dashboard.login"),
        at=now,
    )
    session.commit()
    return cookie


def csrf_token(request: Request) -> str:
    """The CSRF token of the request's session, or "" for a request without one."""
    row = getattr(request.state, "dashboard_session", None)
    return row.csrf_token if isinstance(row, DashboardSessionRow) else ""


def check_csrf(request: Request, given: str) -> None:
    """A form posted with the session cookie must carry the session's CSRF token too.

    Raises InvalidInput.
    """
    expected = csrf_token(request)
    if expected and not hmac.compare_digest(expected, given):
        raise InvalidInput.at("csrf", "the form is stale: reload the page")


def end_session(request: Request, session: Session, caller: Principal, *, now: datetime) -> None:
    """End the request's session, if it has one, and log the logout in the audit log."""
    row = getattr(request.state, "dashboard_session", None)
    if not isinstance(row, DashboardSessionRow):
        return
    session.execute(
        delete(DashboardSessionRow).where(DashboardSessionRow.token_hash == row.token_hash)  # type: ignore[arg-type]
    )
    record(
        session,
        OperatorAction(actor=caller.id, role="coordinator", action="dashboard.logout"),
        at=now,
    )
    session.commit()
