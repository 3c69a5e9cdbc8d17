"""The directory of the network: sources, recipients and their current public keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from weakref import WeakKeyDictionary

from nacl.public import PublicKey
from nacl.signing import VerifyKey
from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy import Engine, Table, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from hub.audit_records import (
    record_key,
    record_key_revoked,
    record_mode,
    record_recipient,
    record_source,
)
from hub.errors import ConfigurationError, InvalidInput, NotFound
from hub.routing import Member, RecipientKind
from hub.store import RecipientKeyRow, RecipientRow, SourceRow
from hub.webhook_secrets import encrypt_secret
from keys import PublicKeySet, fingerprint


class DeliveryMode(StrEnum):
    pull = "pull"
    push = "push"


class KeyPurpose(StrEnum):
    sealing = "sealing"
    receipt = "receipt"


@dataclass(frozen=True)
class Recipient:
    """A recipient with the key its packets are sealed to now (None: it has no valid key)."""

    member: Member
    sealing_key: PublicKey | None


def add_source(
    session: Session, *, source_id: str, name: str, country: str | None, now: datetime
) -> SourceRow:
    """Register a portal. Raises InvalidInput if the id is taken."""
    if session.get(SourceRow, source_id) is not None:
        raise InvalidInput.at("id", f"source {source_id} exists")
    row = SourceRow(id=source_id, name=name, country=country, created_at=now)
    session.add(row)
    record_source(session, row)
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
    push_url: str | None = None,
    webhook_secret: str | None = None,
    webhook_key: bytes | None = None,
) -> RecipientRow:
    """Register a recipient with its sealing and receipt public keys.

    A push recipient's webhook secret is stored encrypted with `webhook_key` (hub.keyring).
    Raises InvalidInput if the id is taken, the key set has no sealing key, or push settings
    are incomplete; ConfigurationError for a push recipient without the webhook key.
    """
    if session.get(RecipientRow, recipient_id) is not None:
        raise InvalidInput.at("id", f"recipient {recipient_id} exists")
    if keys.sealing is None:
        raise InvalidInput.at("keys.sealing", "a recipient needs a sealing key")
    row = RecipientRow(
        id=recipient_id, name=name, country=country, kind=kind, delivery_mode=mode, created_at=now
    )
    _apply_mode(row, mode, push_url, webhook_secret, webhook_key)
    session.add(row)
    session.flush()
    record_recipient(session, row)
    add_key(session, recipient_id, KeyPurpose.sealing, bytes(keys.sealing), valid_from=now)
    add_key(session, recipient_id, KeyPurpose.receipt, bytes(keys.signing), valid_from=now)
    return row


def _apply_mode(
    row: RecipientRow,
    mode: DeliveryMode,
    push_url: str | None,
    webhook_secret: str | None,
    webhook_key: bytes | None,
) -> None:
    row.delivery_mode = mode
    row.push_url = None
    row.webhook_secret = None
    if mode is not DeliveryMode.push:
        return
    if not push_url or not push_url.startswith(("https://", "http://")):
        raise InvalidInput.at("push_url", "a push recipient needs an http(s) endpoint")
    if not webhook_secret or not webhook_secret.startswith("whsec_"):
        raise InvalidInput.at("webhook_secret", "a push recipient needs a whsec_ secret")
    if webhook_key is None:
        raise ConfigurationError("a webhook secret is only stored encrypted: no webhook key given")
    row.push_url = push_url
    row.webhook_secret = encrypt_secret(webhook_key, row.id, webhook_secret)


def set_delivery_mode(
    session: Session,
    recipient_id: str,
    mode: DeliveryMode,
    *,
    push_url: str | None = None,
    webhook_secret: str | None = None,
    webhook_key: bytes | None = None,
    now: datetime | None = None,
) -> RecipientRow:
    """Switch a recipient between push and pull; its pending packets follow the new mode.

    Raises NotFound for an unknown recipient, InvalidInput for incomplete push settings,
    ConfigurationError for push without the webhook key its secret is encrypted with.
    """
    row = session.get(RecipientRow, recipient_id)
    if row is None:
        raise NotFound(f"no recipient {recipient_id}")
    _apply_mode(row, mode, push_url, webhook_secret, webhook_key)
    session.add(row)
    record_mode(session, row, now or datetime.now(UTC))
    return row


def add_key(
    session: Session,
    recipient_id: str,
    purpose: KeyPurpose,
    public_key: bytes,
    *,
    valid_from: datetime,
    now: datetime | None = None,
) -> RecipientKeyRow:
    """Register a public key that takes effect at `valid_from` (rotation: a later start wins).

    Raises InvalidInput if the key is already registered or is not 32 bytes.
    """
    if len(public_key) != 32:
        raise InvalidInput.at("public_key", "not a 32-byte public key")
    key_id = fingerprint("x25519" if purpose is KeyPurpose.sealing else "ed25519", public_key)
    if session.get(RecipientKeyRow, key_id) is not None:
        raise InvalidInput.at("public_key", f"key {key_id} is already registered")
    row = RecipientKeyRow(
        key_id=key_id,
        recipient_id=recipient_id,
        purpose=purpose,
        public_key=public_key,
        valid_from=valid_from,
    )
    session.add(row)
    record_key(session, row, now or valid_from)
    return row


def revoke_key(session: Session, key_id: str, now: datetime) -> RecipientKeyRow:
    """Revoke a key: never used again for sealing, and receipts signed with it are refused.

    Raises NotFound for an unknown key.
    """
    row = session.get(RecipientKeyRow, key_id)
    if row is None:
        raise NotFound(f"no key {key_id}")
    if row.revoked_at is None:
        row.revoked_at = now
        session.add(row)
        record_key_revoked(session, row, now)
    return row


@dataclass(frozen=True)
class _SealingKey:
    recipient_id: str
    key: PublicKey
    valid_from: datetime


@dataclass(frozen=True)
class _Snapshot:
    """The directory as read at one stamp: members, and their unrevoked sealing keys."""

    stamp: tuple[object, ...]
    members: tuple[Member, ...]
    keys: tuple[_SealingKey, ...]


# One snapshot per engine. Reading the whole directory for every report was the largest waste
# on the intake path; a stamp of the two tables (counts and latest times) is one small query,
# and any registration, rotation or revocation changes it, in this process or another.
_SNAPSHOTS: WeakKeyDictionary[Engine, _Snapshot] = WeakKeyDictionary()
_KEYS: Table = RecipientKeyRow.__table__  # type: ignore[attr-defined]
_MEMBERS: Table = RecipientRow.__table__  # type: ignore[attr-defined]
_STAMP = sa_select(
    sa_select(func.count(_KEYS.c.key_id)).scalar_subquery(),
    sa_select(func.max(_KEYS.c.valid_from)).scalar_subquery(),
    sa_select(func.max(_KEYS.c.revoked_at)).scalar_subquery(),
    sa_select(func.count(_KEYS.c.revoked_at)).scalar_subquery(),
    sa_select(func.count(_MEMBERS.c.id)).scalar_subquery(),
    sa_select(func.max(_MEMBERS.c.created_at)).scalar_subquery(),
)


def _stamp(session: Session) -> tuple[object, ...]:
    return tuple(session.connection().execute(_STAMP).one())


def _snapshot(session: Session) -> _Snapshot:
    stamp = _stamp(session)
    engine = session.get_bind()
    cached = _SNAPSHOTS.get(engine) if isinstance(engine, Engine) else None
    if cached is not None and cached.stamp == stamp:
        return cached
    members = tuple(
        Member(recipient_id=row.id, country=row.country, kind=RecipientKind(row.kind))
        for row in session.exec(select(RecipientRow).order_by(col(RecipientRow.id))).all()
    )
    keys = tuple(
        _SealingKey(row.recipient_id, PublicKey(row.public_key), row.valid_from)
        for row in session.exec(
            select(RecipientKeyRow)
            .where(RecipientKeyRow.purpose == KeyPurpose.sealing)
            .where(col(RecipientKeyRow.revoked_at).is_(None))
            .order_by(col(RecipientKeyRow.valid_from))
        ).all()
    )
    snapshot = _Snapshot(stamp=stamp, members=members, keys=keys)
    if isinstance(engine, Engine):
        _SNAPSHOTS[engine] = snapshot
    return snapshot


def recipients(session: Session, now: datetime) -> list[Recipient]:
    """Every recipient with its newest sealing key that is valid at `now`, if it has one."""
    snapshot = _snapshot(session)
    sealing: dict[str, PublicKey] = {}
    for key in snapshot.keys:  # oldest first: the newest valid one wins
        if key.valid_from <= now:
            sealing[key.recipient_id] = key.key
    return [
        Recipient(member=member, sealing_key=sealing.get(member.recipient_id))
        for member in snapshot.members
    ]


def sealing_key_of(directory: list[Recipient], recipient_id: str) -> PublicKey:
    """The key to seal to for a routed recipient.

    Raises ConfigurationError if it has none: the hub never sends unsealed, and refuses the
    report (the source keeps it and retries) rather than accept what it cannot deliver.
    """
    for recipient in directory:
        if recipient.member.recipient_id == recipient_id and recipient.sealing_key is not None:
            return recipient.sealing_key
    raise ConfigurationError(f"recipient {recipient_id} has no valid sealing key")


def receipt_keys(session: Session, recipient_id: str) -> dict[str, VerifyKey]:
    """The unrevoked receipt keys of a recipient, by key id."""
    rows = session.exec(
        select(RecipientKeyRow)
        .where(RecipientKeyRow.recipient_id == recipient_id)
        .where(RecipientKeyRow.purpose == KeyPurpose.receipt)
        .where(col(RecipientKeyRow.revoked_at).is_(None))
    ).all()
    return {row.key_id: VerifyKey(row.public_key) for row in rows}


class KeyInfo(BaseModel):
    """A recipient's public key as administrators see it."""

    model_config = ConfigDict(extra="forbid")

    key_id: str
    purpose: KeyPurpose
    valid_from: AwareDatetime
    revoked_at: AwareDatetime | None


class RecipientInfo(BaseModel):
    """A recipient as administrators see it: never its webhook secret, never content."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    country: str | None
    kind: RecipientKind
    delivery_mode: DeliveryMode
    push_url: str | None
    keys: list[KeyInfo]


def recipient_directory(session: Session) -> list[RecipientInfo]:
    """Every recipient with its keys, by id."""
    keys: dict[str, list[KeyInfo]] = {}
    for key in session.exec(
        select(RecipientKeyRow).order_by(
            col(RecipientKeyRow.valid_from), col(RecipientKeyRow.key_id)
        )
    ).all():
        keys.setdefault(key.recipient_id, []).append(
            KeyInfo(
                key_id=key.key_id,
                purpose=KeyPurpose(key.purpose),
                valid_from=key.valid_from,
                revoked_at=key.revoked_at,
            )
        )
    return [
        RecipientInfo(
            id=row.id,
            name=row.name,
            country=row.country,
            kind=RecipientKind(row.kind),
            delivery_mode=DeliveryMode(row.delivery_mode),
            push_url=row.push_url,
            keys=keys.get(row.id, []),
        )
        for row in session.exec(select(RecipientRow).order_by(col(RecipientRow.id))).all()
    ]
