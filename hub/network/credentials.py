"""API credentials: random tokens whose prefix says what they are, stored only as hashes.

A token is a prefix, `_`, and 256 random bits in URL-safe base64 (43 characters): `hubsrc_` for a
source portal, `hubrcp_` for a recipient (section, police liaison or coordinator), `hubadm_` for an
administrator. The hub keeps the token's SHA-256 only, and names the credential by a public id
made from that hash (`cred-` and 16 hex digits) in lists, logs and commands. A credential may
expire, may be revoked, and is rotated by issuing a new token for the same principal while the
old one lives on for an overlap, so that the party can switch without a gap. A token is shown
once, when it is issued; it is never logged and never stored in clear.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy import Table, bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from hub.audit.records import record_credential
from hub.errors import Forbidden, NotAuthenticated, NotFound
from hub.logs import get_logger
from hub.store import AdministratorRow, CredentialRow, RecipientRow, SourceRow

log = get_logger(__name__)


class Role(StrEnum):
    source = "source"
    recipient = "recipient"
    administrator = "administrator"


PREFIXES = {Role.source: "hubsrc", Role.recipient: "hubrcp", Role.administrator: "hubadm"}
_TOKEN_BYTES = 32
_TOKEN_SHAPE = re.compile(r"hub(src|rcp|adm)_[A-Za-z0-9_-]{43}")
_CREDENTIALS: Table = CredentialRow.__table__  # type: ignore[attr-defined]
_SOURCES: Table = SourceRow.__table__  # type: ignore[attr-defined]
_RECIPIENTS: Table = RecipientRow.__table__  # type: ignore[attr-defined]
_ADMINISTRATORS: Table = AdministratorRow.__table__  # type: ignore[attr-defined]
# Every request starts here: one statement, built once, finds the credential and whether its
# principal still exists.
_LOOKUP = (
    sa_select(
        _CREDENTIALS.c.token_hash,
        _CREDENTIALS.c.credential_id,
        _CREDENTIALS.c.role,
        _CREDENTIALS.c.principal_id,
        _CREDENTIALS.c.expires_at,
        _CREDENTIALS.c.revoked_at,
        _SOURCES.c.id.label("source"),
        _ADMINISTRATORS.c.id.label("administrator"),
        _RECIPIENTS.c.kind.label("recipient_kind"),
    )
    .select_from(
        _CREDENTIALS.outerjoin(_SOURCES, _SOURCES.c.id == _CREDENTIALS.c.principal_id)
        .outerjoin(_ADMINISTRATORS, _ADMINISTRATORS.c.id == _CREDENTIALS.c.principal_id)
        .outerjoin(_RECIPIENTS, _RECIPIENTS.c.id == _CREDENTIALS.c.principal_id)
    )
    .where(_CREDENTIALS.c.token_hash == bindparam("digest"))
)
CREDENTIAL_ID_PATTERN = r"^cred-[0-9a-f]{16}$"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a source portal, a recipient (section, police or coordinator), or an
    administrator; and with which credential."""

    role: Role
    id: str
    recipient_kind: str | None = None
    credential_id: str | None = None


class CredentialInfo(BaseModel):
    """A credential as administrators see it: never the token, never its hash."""

    model_config = ConfigDict(extra="forbid")

    credential_id: str
    role: Role
    principal_id: str
    created_at: AwareDatetime
    expires_at: AwareDatetime | None
    revoked_at: AwareDatetime | None


class IssuedCredential(BaseModel):
    """A new credential and its token: the only time the token is ever shown."""

    model_config = ConfigDict(extra="forbid")

    credential: CredentialInfo
    token: str


def token_hash(token: str) -> str:
    """SHA-256 of a token. Tokens carry 256 random bits, so a fast hash is enough."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def credential_id_of(digest: str) -> str:
    """The public id of the credential whose token hashes to `digest`."""
    return f"cred-{digest[:16]}"


def _info(row: CredentialRow) -> CredentialInfo:
    return CredentialInfo(
        credential_id=row.credential_id,
        role=Role(row.role),
        principal_id=row.principal_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


def _new_credential(
    session: Session, role: Role, principal_id: str, now: datetime, expires_at: datetime | None
) -> IssuedCredential:
    token = f"{PREFIXES[role]}_{secrets.token_urlsafe(_TOKEN_BYTES)}"
    digest = token_hash(token)
    row = CredentialRow(
        token_hash=digest,
        credential_id=credential_id_of(digest),
        role=role,
        principal_id=principal_id,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(row)
    record_credential(session, row, "issued", now)
    return IssuedCredential(credential=_info(row), token=token)


def issue_credential(
    session: Session,
    role: Role,
    principal_id: str,
    now: datetime,
    *,
    expires_at: datetime | None = None,
) -> str:
    """Create a credential in the session and return its token; only the hash is stored."""
    return _new_credential(session, role, principal_id, now, expires_at).token


def _refuse(reason: str, credential_id: str | None = None) -> NotAuthenticated:
    # The caller learns nothing; the log says why, by the credential's public id, never its token.
    log.warning("authentication_failed", reason=reason, credential_id=credential_id)
    return NotAuthenticated("unknown, expired or revoked credential")


def authenticate(session: Session, token: str, *, now: datetime) -> Principal:
    """Resolve a bearer token to its principal.

    Raises NotAuthenticated, saying nothing more, for a malformed, unknown, revoked or expired
    token, or one whose principal is gone.
    """
    if not _TOKEN_SHAPE.fullmatch(token):
        raise _refuse("malformed")
    digest = token_hash(token)
    row = session.connection().execute(_LOOKUP, {"digest": digest}).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        raise _refuse("unknown")
    if row.revoked_at is not None:
        raise _refuse("revoked", row.credential_id)
    if row.expires_at is not None and now >= row.expires_at:
        raise _refuse("expired", row.credential_id)
    role = Role(row.role)
    if not token.startswith(f"{PREFIXES[role]}_"):
        raise _refuse("prefix does not match the role", row.credential_id)
    found = {
        Role.source: row.source is not None,
        Role.administrator: row.administrator is not None,
    }.get(role, row.recipient_kind is not None)
    if not found:
        raise _refuse("principal unknown", row.credential_id)
    kind = row.recipient_kind if role not in (Role.source, Role.administrator) else None
    return Principal(role, row.principal_id, kind, credential_id=row.credential_id)


_REGISTERS: dict[Role, type[SourceRow | RecipientRow | AdministratorRow]] = {
    Role.source: SourceRow,
    Role.recipient: RecipientRow,
    Role.administrator: AdministratorRow,
}


def _is_registered(session: Session, role: Role, principal_id: str) -> bool:
    return session.get(_REGISTERS[role], principal_id) is not None


def register_administrator(session: Session, admin_id: str, name: str, now: datetime) -> bool:
    """Register an administrator unless it exists; return whether it is new."""
    if session.get(AdministratorRow, admin_id) is not None:
        return False
    session.add(AdministratorRow(id=admin_id, name=name, created_at=now))
    session.flush()
    log.info("administrator_registered", administrator=admin_id)
    return True


def issue(
    session: Session,
    role: Role,
    principal_id: str,
    now: datetime,
    *,
    expires_at: datetime | None = None,
) -> IssuedCredential:
    """Issue a credential to a registered principal and commit it.

    Raises NotFound if no such source, recipient or administrator is registered. An expiry in
    the past is allowed: it makes a credential that never works.
    """
    if not _is_registered(session, role, principal_id):
        raise NotFound(f"no {role.value} {principal_id}")
    issued = _new_credential(session, role, principal_id, now, expires_at)
    session.commit()
    # pragma: no mutate start
    log.info(
        "credential_issued",
        credential_id=issued.credential.credential_id,
        role=role.value,
        principal=principal_id,
    )
    # pragma: no mutate end
    return issued


def _row(session: Session, credential_id: str) -> CredentialRow:
    row = session.exec(
        select(CredentialRow).where(CredentialRow.credential_id == credential_id)
    ).first()
    if row is None:
        raise NotFound(f"no credential {credential_id}")
    return row


def credential_info(session: Session, credential_id: str) -> CredentialInfo:
    """One credential. Raises NotFound."""
    return _info(_row(session, credential_id))


def list_credentials(session: Session, *, principal_id: str | None = None) -> list[CredentialInfo]:
    """Every credential (or one principal's), oldest first: ids, roles, times; never tokens."""
    query = select(CredentialRow).order_by(
        col(CredentialRow.created_at), col(CredentialRow.credential_id)
    )
    if principal_id is not None:
        query = query.where(CredentialRow.principal_id == principal_id)
    return [_info(row) for row in session.exec(query).all()]


def revoke_credential(session: Session, credential_id: str, now: datetime) -> CredentialInfo:
    """Revoke a credential at once; revoking it again changes nothing. Raises NotFound."""
    row = _row(session, credential_id)
    if row.revoked_at is None:
        row.revoked_at = now
        session.add(row)
        record_credential(session, row, "revoked", now)
        session.commit()
        log.info("credential_revoked", credential_id=credential_id, principal=row.principal_id)
    return _info(row)


def rotate_credential(
    session: Session,
    credential_id: str,
    now: datetime,
    *,
    overlap: timedelta,
    expires_at: datetime | None = None,
    allow_administrator: bool = True,
) -> IssuedCredential:
    """Issue a new token for the same principal; the old one ends after `overlap` (0: now).

    Only a live credential is rotated: rotating an expired or already-rotated one would turn a
    credential that is ending into a new live token.

    Raises NotFound for an unknown credential, Forbidden for one that is revoked, expired or
    already rotated, or for an administrator's when `allow_administrator` is false (the API may
    not mint those).
    """
    old = _row(session, credential_id)
    role = Role(old.role)
    if role is Role.administrator and not allow_administrator:
        raise Forbidden("administrator credentials are rotated on the hub's machine only")
    if old.revoked_at is not None:
        raise Forbidden(f"credential {credential_id} is revoked: issue a new one instead")
    if old.expires_at is not None and old.expires_at <= now:
        raise Forbidden(f"credential {credential_id} has expired: issue a new one instead")
    if old.rotated_at is not None:
        raise Forbidden(f"credential {credential_id} was already rotated: rotate its successor")
    issued = _new_credential(session, role, old.principal_id, now, expires_at)
    old.rotated_at = now
    if overlap <= timedelta(0):
        old.revoked_at = now
    else:
        end = now + overlap
        old.expires_at = end if old.expires_at is None else min(old.expires_at, end)
    session.add(old)
    record_credential(session, old, "rotated", now)
    session.commit()
    # pragma: no mutate start
    log.info(
        "credential_rotated",
        credential_id=credential_id,
        new_credential_id=issued.credential.credential_id,
        principal=old.principal_id,
        old_ends_at=(old.revoked_at or old.expires_at or now).isoformat(),
    )
    # pragma: no mutate end
    return issued
