"""forwards between recipients, and the copies they deleted after forwarding

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hub.store

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "forwards",
        sa.Column("forward_id", sa.String(length=36), nullable=False),
        sa.Column("report_id", sa.String(length=36), nullable=False),
        sa.Column("from_recipient_id", sa.String(length=63), nullable=False),
        sa.Column("to_recipient_id", sa.String(length=63), nullable=False),
        sa.Column("packet_id", sa.String(length=36), nullable=False),
        sa.Column("forward_sha256", sa.String(length=64), nullable=False),
        sa.Column("forwarded_at", hub.store.UTCDateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", hub.store.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["from_recipient_id"], ["recipients.id"]),
        sa.ForeignKeyConstraint(["packet_id"], ["deliveries.packet_id"]),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"]),
        sa.ForeignKeyConstraint(["to_recipient_id"], ["recipients.id"]),
        sa.PrimaryKeyConstraint("forward_id"),
    )
    op.create_index(op.f("ix_forwards_report_id"), "forwards", ["report_id"], unique=False)
    op.create_table(
        "copy_deletions",
        sa.Column("report_id", sa.String(length=36), nullable=False),
        sa.Column("recipient_id", sa.String(length=63), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("deleted_at", hub.store.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", hub.store.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["recipient_id"], ["recipients.id"]),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"]),
        sa.PrimaryKeyConstraint("report_id", "recipient_id"),
    )


def downgrade() -> None:
    op.drop_table("copy_deletions")
    op.drop_index(op.f("ix_forwards_report_id"), table_name="forwards")
    op.drop_table("forwards")
