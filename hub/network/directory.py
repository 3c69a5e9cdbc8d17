"""The directory of the network: sources, recipients and their current public keys.

Each recipient key is in one state at a time (docs/delivery.md, "Key states"): `future` before
its start, `current` from its start until a newer key of the same purpose starts, `superseded`
after that (may still open or sign receipts, never sealed to), `expired` once superseded for
longer than KEY_OVERLAP, and `revoked`. A newer key that starts supersedes the older ones for
good, even if it is revoked later: a rotated-out key never comes back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from weakref import WeakKeyDictionary

from nacl.public import PublicKey
from nacl.signing import VerifyKey
from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy import Engine, Table, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from hub.audit.records import (
    record_key,
    record_key_revoked,
    record_mode,
    record_recipient,
    record_source,
)
from hub.errors import ConfigurationError, Conflict, InvalidInput, NotFound
from hub.network.routing import Member, RecipientKind
from hub.network.webhook_secrets import encrypt_secret
from hub.store import RecipientKeyRow, RecipientRow, SourceRow
from keys import PublicKeySet, fingerprint


class DeliveryMode(StrEnum):
    pull = "pull"
    push = "push"


class KeyPurpose(StrEnum):
    sealing = "sealing"
    receipt = "receipt"


class KeyState(StrEnum):
    """Where a recipient key is in its life (docs/delivery.md, "Key states")."""

    future = "future"  # registered, starts later
    current = "current"  # the one key of its purpose in use now
    superseded = "superseded"  # a newer key started: may still open or sign, never sealed to
    expired = "expired"  # superseded for longer than KEY_OVERLAP: receipts signed with it refused
    revoked = "revoked"  # never used again, for anything


# How long a superseded key keeps working for receipts: long enough for every connector to move
# to its new keys, short enough that a forgotten old key stops counting.
KEY_OVERLAP = timedelta(days=30)


@dataclass(frozen=True)
class KeyTimes:
    """The times that decide a key's state."""

    valid_from: datetime
    revoked_at: datetime | None


def _supersedes(key: KeyTimes) -> bool:
    """Whether a key displaces older ones once it starts (one revoked before it never does)."""
    return key.revoked_at is None or key.revoked_at > key.valid_from


def key_validity(
    key: KeyTimes, siblings: Sequence[KeyTimes], now: datetime
) -> tuple[KeyState, datetime | None]:
    """The state of `key` at `now` among the keys of the same recipient and purpose, and when it
    stopped or stops being usable (its successor's start, or its revocation)."""
    successor = min(
        (
            other.valid_from
            for other in siblings
            if other is not key and _supersedes(other) and key.valid_from < other.valid_from <= now
        ),
        default=None,
    )
    ends = [t for t in (successor, key.revoked_at) if t is not None]
    valid_to = min(ends) if ends else None
    if key.revoked_at is not None and key.revoked_at <= now:
        return KeyState.revoked, valid_to
    if key.valid_from > now:
        return KeyState.future, valid_to
    if successor is None:
        return KeyState.current, valid_to
    if now - successor >= KEY_OVERLAP:
        return KeyState.expired, valid_to
    return KeyState.superseded, valid_to


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
        raise InvalidInput.at("id", "a source with this id is registered")
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

    Keys of one purpose start in the order they are registered: a key that would start at or
    before the start of the recipient's current key is refused, since it could never be current.
    Raises NotFound for an unknown recipient, InvalidInput if the key is already registered, is
    not 32 bytes, or starts too early.
    """
    if len(public_key) != 32:
        raise InvalidInput.at("public_key", "not a 32-byte public key")
    if session.get(RecipientRow, recipient_id) is None:
        raise NotFound(f"no recipient {recipient_id}: register it first (hub recipients)")
    key_id = fingerprint("x25519" if purpose is KeyPurpose.sealing else "ed25519", public_key)
    if session.get(RecipientKeyRow, key_id) is not None:
        raise InvalidInput.at("public_key", f"key {key_id} is already registered")
    _check_start(session, recipient_id, purpose, valid_from, now or valid_from)
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


def _check_start(
    session: Session, recipient_id: str, purpose: KeyPurpose, valid_from: datetime, now: datetime
) -> None:
    """Raise InvalidInput if a new key starting at `valid_from` could never be current."""
    keys = _keys_of(session, recipient_id, purpose)
    for row, times in keys:
        state, _ = key_validity(times, [t for _, t in keys], now)
        if state is KeyState.current and valid_from <= row.valid_from:
            raise InvalidInput.at(
                "valid_from",
                f"{valid_from.isoformat()} is not after the start of the current {purpose} key "
                f"{row.key_id} ({row.valid_from.isoformat()}); a new key must start later",
            )
        if state is KeyState.future and valid_from == row.valid_from:
            raise InvalidInput.at(
                "valid_from", f"key {row.key_id} already starts at {valid_from.isoformat()}"
            )


def has_current_key(
    session: Session, recipient_id: str, purpose: KeyPurpose, now: datetime
) -> bool:
    """Whether the recipient has a current key of this purpose at `now`."""
    keys = _keys_of(session, recipient_id, purpose)
    siblings = [times for _, times in keys]
    return any(key_validity(t, siblings, now)[0] is KeyState.current for _, t in keys)


def _keys_of(
    session: Session, recipient_id: str, purpose: KeyPurpose | None = None
) -> list[tuple[RecipientKeyRow, KeyTimes]]:
    query = select(RecipientKeyRow).where(RecipientKeyRow.recipient_id == recipient_id)
    if purpose is not None:
        query = query.where(RecipientKeyRow.purpose == purpose)
    rows = session.exec(
        query.order_by(col(RecipientKeyRow.valid_from), col(RecipientKeyRow.key_id))
    ).all()
    return [(row, KeyTimes(row.valid_from, row.revoked_at)) for row in rows]


def revoke_key(session: Session, key_id: str, now: datetime) -> RecipientKeyRow:
    """Revoke a key: never used again for sealing, and receipts signed with it are refused.

    Raises NotFound for an unknown key, Conflict for a key already revoked.
    """
    row = session.get(RecipientKeyRow, key_id)
    if row is None:
        raise NotFound(f"no key {key_id}")
    if row.revoked_at is not None:
        raise Conflict(f"key {key_id} was already revoked at {row.revoked_at.isoformat()}")
    row.revoked_at = now
    session.add(row)
    record_key_revoked(session, row, now)
    return row


@dataclass(frozen=True)
class _SealingKey:
    recipient_id: str
    key: PublicKey
    times: KeyTimes


@dataclass(frozen=True)
class _Snapshot:
    """The directory as read at one stamp: members, and all their sealing keys."""

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
        _SealingKey(
            row.recipient_id, PublicKey(row.public_key), KeyTimes(row.valid_from, row.revoked_at)
        )
        for row in session.exec(
            select(RecipientKeyRow)
            .where(RecipientKeyRow.purpose == KeyPurpose.sealing)
            .order_by(col(RecipientKeyRow.valid_from))
        ).all()
    )
    snapshot = _Snapshot(stamp=stamp, members=members, keys=keys)
    if isinstance(engine, Engine):
        _SNAPSHOTS[engine] = snapshot
    return snapshot


def recipients(session: Session, now: datetime) -> list[Recipient]:
    """Every recipient with its current sealing key at `now`, if it has one (never another)."""
    snapshot = _snapshot(session)
    grouped: dict[str, list[_SealingKey]] = {}
    for key in snapshot.keys:
        grouped.setdefault(key.recipient_id, []).append(key)
    sealing: dict[str, PublicKey] = {}
    for recipient_id, keys in grouped.items():
        siblings = [k.times for k in keys]
        for key in keys:
            if key_validity(key.times, siblings, now)[0] is KeyState.current:
                sealing[recipient_id] = key.key
    return [
        Recipient(member=member, sealing_key=sealing.get(member.recipient_id))
        for member in snapshot.members
    ]


def sealing_key_of(directory: list[Recipient], recipient_id: str) -> PublicKey:
    """The key to seal to for a routed recipient.

    Raises ConfigurationError if it has no current key: the hub never sends unsealed, and never
    seals to a superseded, expired or revoked key.
    """
    for recipient in directory:
        if recipient.member.recipient_id == recipient_id and recipient.sealing_key is not None:
            return recipient.sealing_key
    raise ConfigurationError(f"recipient {recipient_id} has no current sealing key")


_SIGNS_RECEIPTS = {KeyState.future, KeyState.current, KeyState.superseded}


def receipt_keys(session: Session, recipient_id: str, now: datetime) -> dict[str, VerifyKey]:
    """The receipt keys of a recipient the hub accepts at `now` (future, current, superseded)."""
    keys = _keys_of(session, recipient_id, KeyPurpose.receipt)
    siblings = [times for _, times in keys]
    return {
        row.key_id: VerifyKey(row.public_key)
        for row, times in keys
        if key_validity(times, siblings, now)[0] in _SIGNS_RECEIPTS
    }


class KeyInfo(BaseModel):
    """A recipient's public key as administrators see it."""

    model_config = ConfigDict(extra="forbid")

    key_id: str
    purpose: KeyPurpose
    valid_from: AwareDatetime
    revoked_at: AwareDatetime | None


class KeyStatus(BaseModel):
    """A recipient key and its state at one instant, as `hub keys list` prints it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recipient_id: str
    purpose: KeyPurpose
    key_id: str
    state: KeyState
    valid_from: AwareDatetime
    valid_to: AwareDatetime | None


def key_statuses(
    session: Session, *, now: datetime, recipient_id: str | None = None
) -> list[KeyStatus]:
    """Every recipient key (or one recipient's) with its state at `now`, by recipient and start.

    Raises NotFound for an unknown recipient.
    """
    if recipient_id is not None and session.get(RecipientRow, recipient_id) is None:
        raise NotFound(f"no recipient {recipient_id}")
    ids = (
        [recipient_id]
        if recipient_id is not None
        else list(session.exec(select(RecipientRow.id).order_by(col(RecipientRow.id))).all())
    )
    statuses: list[KeyStatus] = []
    for member in ids:
        for purpose in KeyPurpose:
            keys = _keys_of(session, member, purpose)
            siblings = [times for _, times in keys]
            for row, times in keys:
                state, valid_to = key_validity(times, siblings, now)
                statuses.append(
                    KeyStatus(
                        recipient_id=member,
                        purpose=purpose,
                        key_id=row.key_id,
                        state=state,
                        valid_from=row.valid_from,
                        valid_to=valid_to,
                    )
                )
    return statuses


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
