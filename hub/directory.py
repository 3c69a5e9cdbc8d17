"""The directory of the network: sources, recipients and their current public keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from nacl.public import PublicKey
from nacl.signing import VerifyKey
from sqlmodel import Session, col, select

from hub.errors import ConfigurationError, InvalidInput
from hub.routing import Member, RecipientKind
from hub.store import RecipientKeyRow, RecipientRow, SourceRow
from keys import PublicKeySet


class DeliveryMode(StrEnum):
    pull = "pull"


class KeyPurpose(StrEnum):
    sealing = "sealing"
    receipt = "receipt"


@dataclass(frozen=True)
class Recipient:
    """A recipient with the key its packets are sealed to now."""

    member: Member
    sealing_key: PublicKey


def add_source(
    session: Session, *, source_id: str, name: str, country: str | None, now: datetime
) -> SourceRow:
    """Register a portal. Raises InvalidInput if the id is taken."""
    if session.get(SourceRow, source_id) is not None:
        raise InvalidInput.at("id", f"source {source_id} exists")
    row = SourceRow(id=source_id, name=name, country=country, created_at=now)
    session.add(row)
    return row


def add_recipient(
    session: Session,
    *,
    recipient_id: str,
    name: str,
    country: str | None,
    kind: RecipientKind,
    keys: PublicKeySet,
    now: datetime,
    mode: DeliveryMode = DeliveryMode.pull,
) -> RecipientRow:
    """Register a recipient with its sealing and receipt public keys.

    Raises InvalidInput if the id is taken or the key set has no sealing key.
    """
    if session.get(RecipientRow, recipient_id) is not None:
        raise InvalidInput.at("id", f"recipient {recipient_id} exists")
    if keys.sealing is None:
        raise InvalidInput.at("keys.sealing", "a recipient needs a sealing key")
    row = RecipientRow(
        id=recipient_id, name=name, country=country, kind=kind, delivery_mode=mode, created_at=now
    )
    session.add(row)
    session.flush()
    for purpose, key_id, raw in (
        (KeyPurpose.sealing, keys.sealing_key_id, bytes(keys.sealing)),
        (KeyPurpose.receipt, keys.signing_key_id, bytes(keys.signing)),
    ):
        session.add(
            RecipientKeyRow(
                key_id=key_id,
                recipient_id=recipient_id,
                purpose=purpose,
                public_key=raw,
                valid_from=now,
            )
        )
    return row


def _current_keys(session: Session, purpose: KeyPurpose, now: datetime) -> list[RecipientKeyRow]:
    rows = session.exec(
        select(RecipientKeyRow)
        .where(RecipientKeyRow.purpose == purpose)
        .where(col(RecipientKeyRow.revoked_at).is_(None))
        .where(RecipientKeyRow.valid_from <= now)
        .order_by(col(RecipientKeyRow.valid_from))
    ).all()
    return list(rows)


def recipients(session: Session, now: datetime) -> list[Recipient]:
    """Every recipient with its newest valid sealing key.

    Raises ConfigurationError for a recipient without one: the hub never sends unsealed.
    """
    sealing: dict[str, PublicKey] = {}
    for key_row in _current_keys(session, KeyPurpose.sealing, now):
        sealing[key_row.recipient_id] = PublicKey(key_row.public_key)
    found = []
    for row in session.exec(select(RecipientRow).order_by(col(RecipientRow.id))).all():
        key = sealing.get(row.id)
        if key is None:
            raise ConfigurationError(f"recipient {row.id} has no valid sealing key")
        member = Member(recipient_id=row.id, country=row.country, kind=RecipientKind(row.kind))
        found.append(Recipient(member=member, sealing_key=key))
    return found


def receipt_keys(session: Session, recipient_id: str) -> dict[str, VerifyKey]:
    """The unrevoked receipt keys of a recipient, by key id."""
    rows = session.exec(
        select(RecipientKeyRow)
        .where(RecipientKeyRow.recipient_id == recipient_id)
        .where(RecipientKeyRow.purpose == KeyPurpose.receipt)
        .where(col(RecipientKeyRow.revoked_at).is_(None))
    ).all()
    return {row.key_id: VerifyKey(row.public_key) for row in rows}
