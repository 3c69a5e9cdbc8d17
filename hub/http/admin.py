"""The administrators' routes: credentials issued, listed, revoked and rotated; the recipients;
source portals registered."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from hub.http.deps import Administrator, SessionDep, StateDep
from hub.http.problems import Problem
from hub.network.credentials import (
    CREDENTIAL_ID_PATTERN,
    CredentialInfo,
    IssuedCredential,
    Role,
    issue,
    list_credentials,
    revoke_credential,
    rotate_credential,
)
from hub.network.directory import RecipientInfo, add_source, recipient_directory
from schemas.envelope import RecipientId
from schemas.report import CountryCode, SourceId

_MAX_LIFETIME_SECONDS = 5 * 366 * 86400  # the longest a credential issued over the API lives

__all__ = ["CredentialRequest", "RotationRequest", "SourceInfo", "SourceRequest", "router"]

# Each route is the administrators'; one prefix and one tag for all of them.
router = APIRouter(prefix="/v1/admin", tags=["administrators"])


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


_UNKNOWN: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such credential or principal"}
}
# What issuing and rotating answer alike: a new token, shown once.
_ISSUES: dict[str, Any] = {
    "status_code": 201,
    "response_model": IssuedCredential,
    "responses": _UNKNOWN,
}


@router.get("/credentials", response_model=list[CredentialInfo])
def credentials(
    session: SessionDep,
    _caller: Administrator,
    principal_id: Annotated[RecipientId | None, Query()] = None,
) -> list[CredentialInfo]:
    """Every credential (or one principal's): ids, roles and times; never a token."""
    return list_credentials(session, principal_id=principal_id)


@router.post("/credentials", **_ISSUES)
def issue_credential(
    request: CredentialRequest,
    session: SessionDep,
    state: StateDep,
    _caller: Administrator,
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


@router.post(
    "/credentials/{credential_id}/revoke", response_model=CredentialInfo, responses=_UNKNOWN
)
def revoke(
    credential_id: CredentialId,
    session: SessionDep,
    state: StateDep,
    _caller: Administrator,
) -> CredentialInfo:
    """Revoke a credential at once."""
    return revoke_credential(session, credential_id, state.clock())


@router.post("/credentials/{credential_id}/rotate", **_ISSUES)
def rotate(
    credential_id: CredentialId,
    session: SessionDep,
    state: StateDep,
    _caller: Administrator,
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


@router.get("/recipients", response_model=list[RecipientInfo])
def recipients(session: SessionDep, _caller: Administrator) -> list[RecipientInfo]:
    """Every recipient with its delivery mode and public keys; never a webhook secret."""
    return recipient_directory(session)


class SourceRequest(BaseModel):
    """A source portal to register, as `hub sources add` does; its token is issued next."""

    model_config = ConfigDict(extra="forbid")

    id: SourceId
    name: str = Field(min_length=1, max_length=200)
    country: CountryCode | None = None


class SourceInfo(BaseModel):
    """A registered source portal."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    country: str | None
    created_at: datetime


@router.post(
    "/sources",
    status_code=201,
    response_model=SourceInfo,
    responses={422: {"model": Problem, "description": "The id is taken or a field is invalid"}},
)
def register_source(
    request: SourceRequest, session: SessionDep, state: StateDep, _caller: Administrator
) -> SourceInfo:
    """Register a source portal (the audit log records it); then issue its token."""
    row = add_source(
        session, source_id=request.id, name=request.name, country=request.country, now=state.clock()
    )
    session.commit()
    return SourceInfo(id=row.id, name=row.name, country=row.country, created_at=row.created_at)
