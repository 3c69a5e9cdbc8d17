"""The hub's tables and its database engine.

What is stored is metadata and ciphertext: ids, states, times, routing rules, signed packets whose
report is sealed to its recipient, receipts. The plaintext report is never a column.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime, Engine, Index, event
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, Session, SQLModel, create_engine

from hub.files import private_sqlite

MIGRATIONS = Path(__file__).parent / "migrations"


class UTCDateTime(TypeDecorator[datetime]):
    """Stores instants in UTC and gives them back time-zone aware, on every engine."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _instant(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kwargs)


class SourceRow(SQLModel, table=True):
    """A portal allowed to submit reports."""

    __tablename__ = "sources"

    id: str = Field(primary_key=True, max_length=63)
    name: str = Field(max_length=200)
    country: str | None = Field(default=None, max_length=2)
    created_at: datetime = _instant()


class RecipientRow(SQLModel, table=True):
    """A section, police liaison or coordinator that receives sealed packets."""

    __tablename__ = "recipients"

    id: str = Field(primary_key=True, max_length=63)
    name: str = Field(max_length=200)
    country: str | None = Field(default=None, max_length=2, index=True)
    kind: str = Field(max_length=20)
    delivery_mode: str = Field(max_length=10)
    push_url: str | None = Field(default=None, max_length=500)
    webhook_secret: str | None = Field(
        default=None,
        max_length=200,
        description="Standard Webhooks secret the hub signs pushes with.",
    )
    created_at: datetime = _instant()


class CountryProfileRow(SQLModel, table=True):
    """A member's country profile as it registered it: the profile.toml text, as sent.

    Public data (languages, time zone, working-day calendar, recipients and portals by id): the
    hub judges and counts working days by it. Written by hub/network/profiles.py.
    """

    __tablename__ = "country_profiles"

    code: str = Field(primary_key=True, max_length=3)
    country: str | None = Field(default=None, max_length=2)
    profile: str = Field(description="The profile.toml text, exactly as registered.")
    profile_sha256: str = Field(max_length=64)
    registered_at: datetime = _instant()


class RecipientKeyRow(SQLModel, table=True):
    """A public key of a recipient: `sealing` (X25519) or `receipt` (Ed25519)."""

    __tablename__ = "recipient_keys"

    key_id: str = Field(primary_key=True, max_length=80)
    recipient_id: str = Field(foreign_key="recipients.id", index=True, max_length=63)
    purpose: str = Field(max_length=10)
    public_key: bytes
    valid_from: datetime = _instant()
    revoked_at: datetime | None = _instant(default=None)


class CredentialRow(SQLModel, table=True):
    """An API credential, kept only as the SHA-256 of the token."""

    __tablename__ = "credentials"

    token_hash: str = Field(primary_key=True, max_length=64)
    credential_id: str = Field(
        max_length=21,
        unique=True,
        index=True,
        description="Public name of the credential: 'cred-' and the first 16 hex of token_hash.",
    )
    role: str = Field(max_length=20)
    principal_id: str = Field(max_length=63, index=True)
    created_at: datetime = _instant()
    expires_at: datetime | None = _instant(default=None)
    revoked_at: datetime | None = _instant(default=None)
    rotated_at: datetime | None = _instant(
        default=None, description="When a successor was issued: a rotated credential is not again."
    )


class AdministratorRow(SQLModel, table=True):
    """A person who manages credentials and recipients; never a reader of report content."""

    __tablename__ = "administrators"

    id: str = Field(primary_key=True, max_length=63)
    name: str = Field(max_length=200)
    created_at: datetime = _instant()


class ReportRow(SQLModel, table=True):
    """An accepted report: who sent it, when, a keyed digest, and the answer the source got."""

    __tablename__ = "reports"

    id: str = Field(primary_key=True, max_length=36)
    source_id: str = Field(foreign_key="sources.id", index=True, max_length=63)
    accepted_at: datetime = _instant()
    content_mac: str = Field(max_length=64)
    answer: str = Field(description="The intake answer as sent: routing and acknowledgement.")


class DeliveryRow(SQLModel, table=True):
    """One packet's way to one recipient: pending until a verified receipt makes it delivered.

    The row is the outbox entry too: it is written in the transaction that accepts the report,
    and the push worker claims it by setting `lease_until`, so a crash only delays it.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_inbox", "recipient_id", "state", "created_at"),
        Index("ix_deliveries_due", "state", "next_attempt_at"),
    )

    packet_id: str = Field(primary_key=True, max_length=36)
    report_id: str = Field(foreign_key="reports.id", index=True, max_length=36)
    recipient_id: str = Field(foreign_key="recipients.id", max_length=63)
    rules: str = Field(max_length=500, description="Comma-separated ids of the routing rules.")
    state: str = Field(max_length=20)
    packet: str | None = Field(
        description="The signed packet envelope as JSON (the report is sealed); None once purged."
    )
    sealed_sha256: str = Field(max_length=64)
    recipient_key_id: str = Field(max_length=80, index=True)
    created_at: datetime = _instant()
    lease_until: datetime | None = _instant(default=None)
    pulls: int = 0
    attempts: int = Field(default=0, description="Push attempts made.")
    next_attempt_at: datetime = _instant(description="When the push worker may try next.")
    window_start: datetime = _instant(
        description="Start of the retry horizon; reset by a re-drive."
    )
    last_error: str | None = Field(default=None, max_length=300)
    delivered_at: datetime | None = _instant(default=None)
    dead_at: datetime | None = _instant(default=None)
    purged_at: datetime | None = _instant(default=None)
    receipt: str | None = Field(default=None, description="The recipient's signed receipt.")


class ForwardRow(SQLModel, table=True):
    """A report passed on by a recipient that received it: ids, digests and times only.

    The forward itself travels as the packet `packet_id`, sealed by the forwarder to the next
    recipient; the hub keeps the SHA-256 of the forwarder's signed payload, never its opening.
    """

    __tablename__ = "forwards"

    forward_id: str = Field(primary_key=True, max_length=36)
    report_id: str = Field(foreign_key="reports.id", index=True, max_length=36)
    from_recipient_id: str = Field(foreign_key="recipients.id", max_length=63)
    to_recipient_id: str = Field(foreign_key="recipients.id", max_length=63)
    packet_id: str = Field(foreign_key="deliveries.packet_id", max_length=36)
    forward_sha256: str = Field(max_length=64)
    forwarded_at: datetime = _instant()
    accepted_at: datetime = _instant()


class CopyDeletionRow(SQLModel, table=True):
    """A recipient's statement that it deleted its copy of a report, as its procedure says."""

    __tablename__ = "copy_deletions"

    report_id: str = Field(primary_key=True, foreign_key="reports.id", max_length=36)
    recipient_id: str = Field(primary_key=True, foreign_key="recipients.id", max_length=63)
    reason: str = Field(max_length=20)
    deleted_at: datetime = _instant()
    recorded_at: datetime = _instant()


class TriageDecisionRow(SQLModel, table=True):
    """A recipient's triage decision on a report it holds a verified receipt for: codes and times.

    Metadata only, never content: what was decided (`forward`, `needs_information`, `close`), the
    report's classification in the network's common codes, a reason code for a close, and when.
    A recipient may decide more than once (needs information, then forward); the first decision of
    a report's first receiver ends its processing time (standard S2).
    """

    __tablename__ = "triage_decisions"

    decision_id: str = Field(primary_key=True, max_length=36)
    report_id: str = Field(foreign_key="reports.id", index=True, max_length=36)
    recipient_id: str = Field(foreign_key="recipients.id", max_length=63)
    decision: str = Field(max_length=20)
    classification: str = Field(max_length=40)
    reason_code: str | None = Field(default=None, max_length=40)
    decided_at: datetime = _instant()
    recorded_at: datetime = _instant()


class JobRunRow(SQLModel, table=True):
    """When a scheduled job last started anywhere in the fleet: one run per interval overall."""

    __tablename__ = "job_runs"

    name: str = Field(primary_key=True, max_length=40)
    last_started_at: datetime = _instant()


class AuditEntryRow(SQLModel, table=True):
    """One entry of the tamper-evident audit log, a leaf of its RFC 6962 Merkle tree.

    Written and read by hub/audit/log.py.

    `entry` holds the exact bytes that are hashed: canonical JSON of ids, kinds, times, states and
    key ids, never report content. The other columns repeat parts of it for look-ups; a verifier
    checks that they agree with it.
    """

    __tablename__ = "audit_entries"

    leaf_index: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    at: datetime = _instant(index=True)
    kind: str = Field(max_length=40, index=True)
    report_id: str | None = Field(default=None, max_length=36, index=True)
    recipient_id: str | None = Field(default=None, max_length=63, index=True)
    entry: str
    leaf_hash: str = Field(max_length=64)


class AuditLogRow(SQLModel, table=True):
    """The audit log's size, one row: every append updates it in its own transaction, which
    serialises appends across hub processes and keeps leaf indices gapless and unique."""

    __tablename__ = "audit_log"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    size: int


class TreeHeadRow(SQLModel, table=True):
    """A tree head of the audit log signed by the hub (a DSSE envelope of a TreeHeadBody)."""

    __tablename__ = "audit_tree_heads"

    tree_size: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    root_hash: str = Field(max_length=64)
    signed_at: datetime = _instant()
    envelope: str
    frontier: str | None = Field(
        default=None,
        description="JSON list of the tree's perfect subtrees' hashes (merkle.Frontier): the next "
        "head is computed from it and the newer entries only.",
    )


class AuditCheckRow(SQLModel, table=True):
    """The outcome of one verification of the whole audit log."""

    __tablename__ = "audit_checks"

    id: int | None = Field(default=None, primary_key=True)
    checked_at: datetime = _instant(index=True)
    checked_by: str = Field(max_length=40)
    tree_size: int
    verified: bool
    problems: str = Field(description="JSON list of what failed; empty when verified.")


class DeclarationRow(SQLModel, table=True):
    """A quality criterion a member's section declares it meets, dated, with its evidence."""

    __tablename__ = "declarations"

    id: int | None = Field(default=None, primary_key=True)
    country: str = Field(max_length=2, index=True)
    criterion: str = Field(max_length=4)
    stated_on: date
    holds: bool
    languages: str | None = Field(default=None, max_length=100)
    last_training: date | None = None
    evidence_url: str | None = Field(default=None, max_length=500)
    declared_by: str = Field(max_length=63)
    recorded_at: datetime = _instant()
    # Set when the criterion declared left the list (the move from Q1-Q12 to S1-S12).
    expired_reason: str | None = Field(default=None, max_length=200)


class ReportFeedbackRow(SQLModel, table=True):
    """Whether a report's reporter asked to be contacted, and when its source saw its status.

    The one fact taken from a report's content (at intake, in memory) besides its routing: it is
    what standard S11 counts, and says nothing about the incident or the reporter.
    """

    __tablename__ = "report_feedback"

    report_id: str = Field(primary_key=True, foreign_key="reports.id", max_length=36)
    contact_consent: bool
    status_seen_at: datetime | None = _instant(
        default=None, description="When the source first saw a verified receipt in its status."
    )
    last_status_at: datetime | None = _instant(default=None)


class ReportFactRow(SQLModel, table=True):
    """The two coded facts of a report's content the annual report counts (standard S4).

    Taken at intake, in memory, from the report: the country where the incident happened (ISO
    3166-1 alpha-2) and the schema's category code. Nothing else of the content:
    docs/threat-model.md (P58) lists every coded field the hub keeps and why.
    """

    __tablename__ = "report_facts"

    report_id: str = Field(primary_key=True, foreign_key="reports.id", max_length=36)
    incident_country: str = Field(max_length=2)
    category: str = Field(max_length=40)


class OutcomeRow(SQLModel, table=True):
    """A recipient's coded outcome for a report it holds a verified receipt for."""

    __tablename__ = "report_outcomes"

    report_id: str = Field(primary_key=True, foreign_key="reports.id", max_length=36)
    recipient_id: str = Field(primary_key=True, foreign_key="recipients.id", max_length=63)
    outcome: str = Field(max_length=40)
    recorded_at: datetime = _instant()


class DashboardSessionRow(SQLModel, table=True):
    """A coordinator's browser session on the dashboard, kept as the hash of its cookie."""

    __tablename__ = "dashboard_sessions"

    token_hash: str = Field(primary_key=True, max_length=64)
    coordinator_id: str = Field(max_length=63)
    credential_id: str = Field(
        max_length=21, description="The credential logged in with: revoking it ends the session."
    )
    csrf_token: str = Field(max_length=64)
    created_at: datetime = _instant()
    expires_at: datetime = _instant()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute(
        "PRAGMA secure_delete=ON"
    )  # purged ciphertext is overwritten, not left in free pages
    cursor.close()


_WRITERS: WeakKeyDictionary[Engine, threading.Lock] = WeakKeyDictionary()
_POOL = 40


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys, a busy timeout and durable commits."""
    if url.startswith("sqlite"):
        private_sqlite(url)
        # A request holds a connection from authentication to its answer, and the server runs up
        # to 40 requests at once (AnyIO's default thread limit). With the default pool (5 and 10
        # overflow) the overflow connections were closed and reopened over and over, each time
        # running the pragmas. PostgreSQL keeps the default: several hub processes share its
        # connection limit.
        engine = create_engine(
            url, connect_args={"check_same_thread": False}, pool_size=_POOL, max_overflow=8
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        _WRITERS[engine] = threading.Lock()
        return engine
    return create_engine(url, pool_pre_ping=True)


@contextmanager
def one_writer(session: Session) -> Iterator[None]:
    """On SQLite, let one thread of this process write at a time; wrap a write and its commit.

    SQLite admits one writer to the whole file. A thread that finds it taken sleeps in SQLite's
    busy handler for 1 to 100 ms, however soon the writer commits: under load most of intake's
    time went there (docs/benchmark.md). Queuing on a lock of this process first hands the file
    over at once. Other processes still meet the busy handler. PostgreSQL locks rows, not the
    database, so there it does nothing.
    """
    lock = _WRITERS.get(session.get_bind())  # type: ignore[arg-type]
    if lock is None:
        yield
        return
    with lock:
        yield


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    """Bring the database at `url` to the newest schema with Alembic."""
    private_sqlite(url)
    command.upgrade(alembic_config(url), "head")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
