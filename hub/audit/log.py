"""The tamper-evident audit log: every event appended as a leaf of an RFC 6962 Merkle tree.

1. Domain code calls `record(session, event, at=now)` where the change happens. The event waits
   in the session and is appended when that session commits, in the same transaction: a change
   and its record are stored together or not at all. `record_now` appends at once instead and
   returns the entry's index and leaf hash, for intake to promise in its acknowledgement.
2. Appending takes the next leaf indices by updating the log's one size row (`audit_log`). The
   update locks that row until commit, so concurrent appends from several hub processes queue
   there and indices stay gapless and unique; a rolled-back transaction gives its indices back.
3. Each entry's exact bytes are canonical JSON (RFC 8785) of its index, time, kind and event;
   its leaf hash is SHA-256(0x00 || bytes), as RFC 6962 says.
4. At a fixed interval one hub process of the fleet signs a tree head (size, root, time) with
   the hub's Ed25519 key (`sign_tree_head`), after checking every stored leaf hash against its
   entry, and then verifies the whole log (`hub.audit.verify`) and records the outcome.
Inclusion and consistency proofs are computed from the stored leaf hashes (`hub.merkle`).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey
from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy import Table, bindparam, event, func, insert, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session, col, select

from hub import merkle
from hub.audit.entry import ENTRY_VERSION, entry_bytes
from hub.audit.events import AuditEvent, ReportRouted
from hub.audit.high_water import check_not_behind, remember_signed
from hub.crypto import sign_envelope
from hub.errors import NotFound, ProofInvalid
from hub.logs import get_logger
from hub.store import AuditCheckRow, AuditEntryRow, AuditLogRow, ReportRow, TreeHeadRow
from keys import fingerprint
from schemas.envelope import TREE_HEAD_TYPE, Envelope, TreeHeadBody

__all__ = [
    "ENTRY_VERSION",
    "AuditCheck",
    "AuditEntry",
    "ConsistencyProof",
    "InclusionProof",
    "SignedTreeHead",
    "consistency_proof",
    "entries",
    "entry_bytes",
    "hold_log",
    "inclusion_proof",
    "inclusion_proofs",
    "last_check",
    "last_of_kind",
    "latest_tree_head",
    "record",
    "record_check",
    "record_now",
    "sign_tree_head",
    "tree_heads",
    "tree_size",
]

log = get_logger(__name__)

_PENDING = "audit_pending"
_SIGN_CHUNK = 2000
_LOG_ROW = 1
_LOG: Table = AuditLogRow.__table__  # type: ignore[attr-defined]
_ENTRIES: Table = AuditEntryRow.__table__  # type: ignore[attr-defined]
_GROW = (
    update(_LOG)
    .where(_LOG.c.id == _LOG_ROW)
    .values(size=_LOG.c.size + bindparam("appended"))
    .returning(_LOG.c.size)
)
_NEW_ENTRIES = insert(_ENTRIES)


class AuditEntry(BaseModel):
    """One entry as served: `entry` is the exact text whose UTF-8 bytes are the leaf."""

    model_config = ConfigDict(extra="forbid")

    leaf_index: int
    at: AwareDatetime
    kind: str
    report_id: str | None
    recipient_id: str | None
    entry: str
    leaf_hash: str


class SignedTreeHead(BaseModel):
    """A tree head and the hub's signature over it."""

    model_config = ConfigDict(extra="forbid")

    tree_size: int
    root_hash: str
    timestamp: AwareDatetime
    envelope: Envelope


class InclusionProof(BaseModel):
    """The audit path from one leaf to the root of the tree of `tree_size` leaves."""

    model_config = ConfigDict(extra="forbid")

    leaf_index: int
    tree_size: int
    leaf_hash: str
    root_hash: str
    audit_path: list[str]


class ConsistencyProof(BaseModel):
    """The proof that the tree of `first` leaves is a prefix of the tree of `second` leaves."""

    model_config = ConfigDict(extra="forbid")

    first: int
    second: int
    first_root: str
    second_root: str
    consistency_path: list[str]


class AuditCheck(BaseModel):
    """The outcome of one verification of the whole log."""

    model_config = ConfigDict(extra="forbid")

    checked_at: AwareDatetime
    checked_by: str
    tree_size: int
    verified: bool
    problems: list[str]


# 1. Recording


_ROUTED = ReportRouted.kind


def record(session: Session, audit_event: AuditEvent, *, at: datetime) -> None:
    """Append `audit_event` to the log when `session` commits (nothing if it rolls back)."""
    if session.get_transaction() is None:
        session.begin()  # so that a rollback before any statement forgets the event too
    session.info.setdefault(_PENDING, []).append((audit_event, at))


def hold_log(session: Session) -> None:
    """Lock the log's size row until `session`'s transaction ends (2.).

    For an entry recorded only if the log does not hold it yet: another hub process that
    holds the log first commits before this one reads it, so the entry is appended once.
    """
    session.connection().execute(_GROW, {"appended": 0})


def record_now(session: Session, audit_event: AuditEvent, *, at: datetime) -> tuple[int, str]:
    """Append `audit_event` now, inside `session`'s transaction, and return its index and leaf
    hash (hex): for a promise of inclusion, signed before the transaction commits.

    Events recorded earlier in the session are appended first, so the log keeps their order.
    From here until the transaction ends it holds the log's size row (2.), and a rollback still
    gives the indices back.
    """
    if session.get_transaction() is None:
        session.begin()
    pending: list[tuple[AuditEvent, datetime]] = session.info.pop(_PENDING, [])
    return _append(session, [*pending, (audit_event, at)])[-1]


@event.listens_for(OrmSession, "before_commit")
def _append_pending(session: OrmSession) -> None:
    pending: list[tuple[AuditEvent, datetime]] = session.info.pop(_PENDING, [])
    if pending:
        _append(session, pending)


@event.listens_for(OrmSession, "after_transaction_end")
def _forget_pending(session: OrmSession, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_PENDING, None)  # rolled back or closed: the events did not happen


def _append(
    session: OrmSession, pending: list[tuple[AuditEvent, datetime]]
) -> list[tuple[int, str]]:
    # Core statements on the session's connection: the ORM's bulk paths cost more than the
    # hashing (docs/benchmark.md). 2. The row lock on the size row is held until this
    # transaction ends.
    connection = session.connection()
    size = connection.execute(_GROW, {"appended": len(pending)}).scalar_one()
    first = size - len(pending)
    rows = []
    for offset, (audit_event, at) in enumerate(pending):
        # 3.
        data = entry_bytes(first + offset, audit_event, at)
        rows.append(
            {
                "leaf_index": first + offset,
                "at": at,
                "kind": audit_event.kind,
                "report_id": audit_event.report,
                "recipient_id": audit_event.recipient,
                "entry": data.decode("utf-8"),
                "leaf_hash": merkle.leaf_hash(data).hex(),
            }
        )
    connection.execute(_NEW_ENTRIES, rows)
    return [(int(row["leaf_index"]), str(row["leaf_hash"])) for row in rows]


# Reading


def tree_size(session: Session) -> int:
    """How many entries the log holds."""
    row = session.exec(select(AuditLogRow).where(AuditLogRow.id == _LOG_ROW)).one()
    return row.size


def entries(
    session: Session,
    *,
    start: int = 0,
    limit: int = 1000,
    report_id: str | None = None,
    newest_first: bool = False,
) -> list[AuditEntry]:
    """Entries from leaf `start` on, or all of one report's entries (`report_id` its key), up to
    `limit`."""
    if report_id is not None:
        return _of_report(session, report_id, limit=limit, newest_first=newest_first)
    query = sa_select(
        col(AuditEntryRow.leaf_index),
        col(AuditEntryRow.at),
        col(AuditEntryRow.kind),
        col(AuditEntryRow.report_id),
        col(AuditEntryRow.recipient_id),
        col(AuditEntryRow.entry),
        col(AuditEntryRow.leaf_hash),
    )
    query = query.where(col(AuditEntryRow.leaf_index) >= start)
    order = col(AuditEntryRow.leaf_index)
    query = query.order_by(order.desc() if newest_first else order).limit(limit)
    return [
        AuditEntry(
            leaf_index=index,
            at=at,
            kind=kind,
            report_id=report,
            recipient_id=recipient,
            entry=entry,
            leaf_hash=leaf,
        )
        for index, at, kind, report, recipient, entry, leaf in session.execute(query).all()
    ]


def _of_report(session: Session, key: str, *, limit: int, newest_first: bool) -> list[AuditEntry]:
    """The entries about the report whose hub key is `key`.

    Every event names the report by its key, except `report_routed`, which names it as its
    source does (`report_id` and `source_id`, so that the source rebuilds the entry from its
    acknowledgement): where another source's report had the id first, the two reports' routing
    entries carry one `report_id`, and the source tells them apart.
    """
    report = session.get(ReportRow, key)
    own_id = report.report_id if report is not None else key
    query = select(AuditEntryRow).where(col(AuditEntryRow.report_id).in_({key, own_id}))
    order = col(AuditEntryRow.leaf_index)
    query = query.order_by(order.desc() if newest_first else order)
    found: list[AuditEntry] = []
    for row in session.exec(query):
        if row.kind == _ROUTED:
            source = json.loads(row.entry)["event"].get("source_id")
            mine = (
                row.report_id == key
                if source is None
                else (report is not None and source == report.source_id)
            )
        else:
            mine = row.report_id == key
        if mine:
            found.append(AuditEntry.model_validate(row, from_attributes=True))
        if len(found) == limit:
            break
    return found


def last_of_kind(session: Session, kind: str) -> AuditEntry | None:
    """The newest entry of this kind, if the log holds one."""
    newest = session.exec(
        select(func.max(AuditEntryRow.leaf_index)).where(AuditEntryRow.kind == kind)
    ).one()
    if newest is None:
        return None
    return entries(session, start=newest, limit=1)[0]


def _leaf_hashes(session: Session, size: int) -> list[bytes]:
    hashes = session.exec(
        select(AuditEntryRow.leaf_hash)
        .where(AuditEntryRow.leaf_index < size)
        .order_by(col(AuditEntryRow.leaf_index))
    ).all()
    if len(hashes) != size:
        raise ProofInvalid(f"the log should hold {size} entries below {size}, not {len(hashes)}")
    return [bytes.fromhex(h) for h in hashes]


def _as_tree_head(row: TreeHeadRow) -> SignedTreeHead:
    return SignedTreeHead(
        tree_size=row.tree_size,
        root_hash=row.root_hash,
        timestamp=row.signed_at,
        envelope=Envelope.model_validate_json(row.envelope),
    )


def latest_tree_head(session: Session) -> SignedTreeHead | None:
    """The newest signed tree head, if the hub signed one."""
    row = _newest_head(session)
    return None if row is None else _as_tree_head(row)


def _newest_head(session: Session) -> TreeHeadRow | None:
    # LIMIT 1: the ORM buffers a whole result before `.first()`, and a year of heads is 500,000.
    return session.exec(
        select(TreeHeadRow).order_by(col(TreeHeadRow.tree_size).desc()).limit(1)
    ).first()


def tree_heads(session: Session, *, after: int = -1, limit: int = 1000) -> list[SignedTreeHead]:
    """Signed tree heads larger than `after`, smallest first."""
    rows = session.exec(
        select(TreeHeadRow)
        .where(TreeHeadRow.tree_size > after)
        .order_by(col(TreeHeadRow.tree_size))
        .limit(limit)
    ).all()
    return [_as_tree_head(row) for row in rows]


# 4. Signing


def sign_tree_head(
    session: Session, *, key: SigningKey, now: datetime, high_water: Path | None = None
) -> SignedTreeHead | None:
    """Sign a tree head over every entry, if the log grew since the last one.

    The last head's frontier stands for the entries it covers, so only newer entries are read:
    the cost follows the growth, not the size of the log (a head without a frontier, signed
    before they were kept, makes this read everything once). Each entry read is first checked
    against its leaf hash, so the hub never signs over an entry changed behind its back; the
    scheduled full verification (`audit_round`) checks the older ones. Returns the new head, or
    None if there was nothing new (or another hub process signed the same size first). Raises
    ProofInvalid if the entries read do not match themselves or the last head.
    """
    size = tree_size(session)
    if high_water is not None:
        check_not_behind(high_water, size)
    latest = _newest_head(session)
    if latest is not None and latest.tree_size >= size:
        return None
    frontier = merkle.Frontier()
    if latest is not None and latest.frontier is not None:
        frontier = merkle.Frontier.restore(latest.tree_size, json.loads(latest.frontier))
        if frontier.root().hex() != latest.root_hash:
            raise ProofInvalid(f"the frontier kept with head {latest.tree_size} does not match it")
    start = frontier.size
    # Streamed in chunks: a backlog since the last head must not have to fit in memory at once.
    rows = session.exec(
        select(AuditEntryRow.leaf_index, AuditEntryRow.entry, AuditEntryRow.leaf_hash)
        .where(AuditEntryRow.leaf_index >= start)
        .where(AuditEntryRow.leaf_index < size)
        .order_by(col(AuditEntryRow.leaf_index))
        .execution_options(yield_per=_SIGN_CHUNK)
    )
    for position, (index, entry, stored) in enumerate(rows, start=start):
        computed = merkle.leaf_hash(entry.encode("utf-8"))
        if index != position or computed.hex() != stored:
            raise ProofInvalid(f"entry {position} does not match its leaf hash: not signing")
        frontier.append(computed)
    if frontier.size != size:
        raise ProofInvalid(f"the log holds {frontier.size} of its {size} entries: not signing")
    body = TreeHeadBody(tree_size=size, root_hash=frontier.root().hex(), timestamp=now)
    envelope = sign_envelope(TREE_HEAD_TYPE, body, key)
    session.add(
        TreeHeadRow(
            tree_size=size,
            root_hash=body.root_hash,
            signed_at=now,
            envelope=envelope.model_dump_json(),
            frontier=json.dumps(frontier.hashes()),
        )
    )
    try:
        session.commit()
    except IntegrityError:
        session.rollback()  # another hub process signed this size at the same moment
        return None
    if high_water is not None:
        remember_signed(high_water, size)
    log.info("tree_head_signed", tree_size=size, root_hash=body.root_hash, key_id=_key_id(key))
    return SignedTreeHead(
        tree_size=size, root_hash=body.root_hash, timestamp=now, envelope=envelope
    )


def _key_id(key: SigningKey) -> str:
    return fingerprint("ed25519", bytes(key.verify_key))


def record_check(session: Session, check: AuditCheck) -> None:
    """Store the outcome of a verification of the log."""
    session.add(
        AuditCheckRow(
            checked_at=check.checked_at,
            checked_by=check.checked_by,
            tree_size=check.tree_size,
            verified=check.verified,
            problems=json.dumps(check.problems),
        )
    )
    session.commit()


def last_check(session: Session) -> AuditCheck | None:
    """The most recent verification of the log, if any."""
    row = session.exec(
        select(AuditCheckRow).order_by(
            col(AuditCheckRow.checked_at).desc(), col(AuditCheckRow.id).desc()
        )
    ).first()
    if row is None:
        return None
    problems: Any = json.loads(row.problems)
    return AuditCheck(
        checked_at=row.checked_at,
        checked_by=row.checked_by,
        tree_size=row.tree_size,
        verified=row.verified,
        problems=[str(p) for p in problems],
    )


# Proofs


def inclusion_proof(
    session: Session, *, leaf_index: int, size: int | None = None
) -> InclusionProof:
    """The audit path of one entry in the tree of `size` entries (by default the latest signed).

    Raises NotFound if there is no such entry, or no signed head of `size` entries, ProofInvalid
    if the log is damaged.
    """
    _check_signed(session, size)
    size = _proof_size(session, size)
    if not 0 <= leaf_index < size:
        raise NotFound(f"no entry {leaf_index} in a tree of {size}")
    hashes = _leaf_hashes(session, size)
    return InclusionProof(
        leaf_index=leaf_index,
        tree_size=size,
        leaf_hash=hashes[leaf_index].hex(),
        root_hash=merkle.root(hashes).hex(),
        audit_path=[h.hex() for h in merkle.inclusion_proof(leaf_index, hashes)],
    )


def inclusion_proofs(
    session: Session, *, leaf_indices: list[int], size: int
) -> dict[int, list[str]]:
    """The audit paths (hex) of several entries in the tree of `size` entries, reading the leaf
    hashes once. Raises NotFound for an entry outside that tree, ProofInvalid if the log is
    damaged."""
    size = _proof_size(session, size)
    outside = [index for index in leaf_indices if not 0 <= index < size]
    if outside:
        raise NotFound(f"no entry {outside[0]} in a tree of {size}")
    hashes = _leaf_hashes(session, size)
    return {
        index: [h.hex() for h in merkle.inclusion_proof(index, hashes)] for index in leaf_indices
    }


def consistency_proof(
    session: Session, *, first: int, second: int | None = None
) -> ConsistencyProof:
    """The proof that the tree of `first` entries is a prefix of the tree of `second`.

    Raises NotFound if either tree is larger than the log or no signed head has `second`
    entries, ProofInvalid if the log is damaged.
    """
    _check_signed(session, second)
    second = _proof_size(session, second)
    if not 0 <= first <= second:
        raise NotFound(f"no tree of {first} inside a tree of {second}")
    hashes = _leaf_hashes(session, second)
    return ConsistencyProof(
        first=first,
        second=second,
        first_root=merkle.root(hashes[:first]).hex(),
        second_root=merkle.root(hashes).hex(),
        consistency_path=[h.hex() for h in merkle.consistency_proof(first, hashes)],
    )


def _check_signed(session: Session, size: int | None) -> None:
    """Raise NotFound unless a signed head has `size` entries: a proof to a root that no head
    signs proves nothing, and a verifier should not have to find that out."""
    if size is not None and session.get(TreeHeadRow, size) is None:
        raise NotFound(f"no signed tree head has {size} entries (GET /v1/audit/tree-heads)")


def _proof_size(session: Session, size: int | None) -> int:
    if size is None:
        latest = latest_tree_head(session)
        if latest is None:
            raise NotFound("the hub has not signed a tree head yet")
        return latest.tree_size
    if not 0 <= size <= tree_size(session):
        raise NotFound(f"the log holds fewer than {size} entries")
    return size
