"""The dashboard's login sessions: the coordinator a session cookie stands for.

A random cookie whose SHA-256 the hub keeps with the credential's id, so that revoking the
credential ends the session. `hub.http.deps` takes it for a bearer token on the dashboard's
pages only; `hub.http.dashboard` opens and closes sessions.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from fastapi import Request
from sqlmodel import Session, select

from hub.errors import NotAuthenticated
from hub.network.credentials import Principal, Role
from hub.store import CredentialRow, DashboardSessionRow, RecipientRow

__all__ = ["COOKIE", "PREFIX", "LoginRequired", "digest", "session_caller"]

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
