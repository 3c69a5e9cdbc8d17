"""API credentials: random tokens whose prefix says what they are, stored only as hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session, select

from hub.errors import NotAuthenticated
from hub.store import CredentialRow, RecipientRow, SourceRow


class Role(StrEnum):
    source = "source"
    recipient = "recipient"


PREFIXES = {Role.source: "hubsrc", Role.recipient: "hubrcp"}
_TOKEN_BYTES = 32


@dataclass(frozen=True)
class Principal:
    """Who is calling: a source portal, or a recipient (section, police or coordinator)."""

    role: Role
    id: str
    recipient_kind: str | None = None


def token_hash(token: str) -> str:
    """SHA-256 of a token. Tokens carry 256 random bits, so a fast hash is enough."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_credential(session: Session, role: Role, principal_id: str, now: datetime) -> str:
    """Create a credential and return its token; only the hash is stored."""
    token = f"{PREFIXES[role]}_{secrets.token_urlsafe(_TOKEN_BYTES)}"
    session.add(
        CredentialRow(
            token_hash=token_hash(token), role=role, principal_id=principal_id, created_at=now
        )
    )
    return token


def authenticate(session: Session, token: str) -> Principal:
    """Resolve a bearer token to its principal. Raises NotAuthenticated, saying nothing more."""
    digest = token_hash(token)
    row = session.exec(select(CredentialRow).where(CredentialRow.token_hash == digest)).first()
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.token_hash, digest):
        raise NotAuthenticated("unknown or revoked credential")
    role = Role(row.role)
    if role is Role.source:
        if session.get(SourceRow, row.principal_id) is None:
            raise NotAuthenticated("unknown or revoked credential")
        return Principal(role=role, id=row.principal_id)
    recipient = session.get(RecipientRow, row.principal_id)
    if recipient is None:
        raise NotAuthenticated("unknown or revoked credential")
    return Principal(role=role, id=recipient.id, recipient_kind=recipient.kind)
