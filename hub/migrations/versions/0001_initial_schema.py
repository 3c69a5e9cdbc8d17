"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 06:53:58.510654
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hub.store

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "credentials",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("principal_id", sa.String(length=63), nullable=False),
        sa.Column("created_at", hub.store.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", hub.store.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credentials_principal_id"), ["principal_id"], unique=False
        )

    op.create_table(
        "recipients",
        sa.Column("id", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("delivery_mode", sa.String(length=10), nullable=False),
        sa.Column("created_at", hub.store.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("recipients", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recipients_country"), ["country"], unique=False)

    op.create_table(
        "sources",
        sa.Column("id", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("created_at", hub.store.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "recipient_keys",
        sa.Column("key_id", sa.String(length=80), nullable=False),
        sa.Column("recipient_id", sa.String(length=63), nullable=False),
        sa.Column("purpose", sa.String(length=10), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("valid_from", hub.store.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", hub.store.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["recipients.id"],
        ),
        sa.PrimaryKeyConstraint("key_id"),
    )
    with op.batch_alter_table("recipient_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_recipient_keys_recipient_id"), ["recipient_id"], unique=False
        )

    op.create_table(
        "reports",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("source_id", sa.String(length=63), nullable=False),
        sa.Column("accepted_at", hub.store.UTCDateTime(timezone=True), nullable=False),
        sa.Column("content_mac", sa.String(length=64), nullable=False),
        sa.Column("answer", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reports_source_id"), ["source_id"], unique=False)

    op.create_table(
        "deliveries",
        sa.Column("packet_id", sa.String(length=36), nullable=False),
        sa.Column("report_id", sa.String(length=36), nullable=False),
        sa.Column("recipient_id", sa.String(length=63), nullable=False),
        sa.Column("rules", sa.String(length=500), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("packet", sa.String(), nullable=False),
        sa.Column("sealed_sha256", sa.String(length=64), nullable=False),
        sa.Column("recipient_key_id", sa.String(length=80), nullable=False),
        sa.Column("created_at", hub.store.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_until", hub.store.UTCDateTime(timezone=True), nullable=True),
        sa.Column("pulls", sa.Integer(), nullable=False),
        sa.Column("delivered_at", hub.store.UTCDateTime(timezone=True), nullable=True),
        sa.Column("receipt", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["recipients.id"],
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
        ),
        sa.PrimaryKeyConstraint("packet_id"),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deliveries_inbox", ["recipient_id", "state", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_deliveries_report_id"), ["report_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveries_report_id"))
        batch_op.drop_index("ix_deliveries_inbox")

    op.drop_table("deliveries")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reports_source_id"))

    op.drop_table("reports")
    with op.batch_alter_table("recipient_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recipient_keys_recipient_id"))

    op.drop_table("recipient_keys")
    op.drop_table("sources")
    with op.batch_alter_table("recipients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recipients_country"))

    op.drop_table("recipients")
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credentials_principal_id"))

    op.drop_table("credentials")
