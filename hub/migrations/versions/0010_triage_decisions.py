"""triage decisions: each recipient's coded decision and classification of a report

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 09:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hub.store

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "triage_decisions",
        sa.Column("decision_id", sa.String(length=36), nullable=False),
        sa.Column("report_id", sa.String(length=36), nullable=False),
        sa.Column("recipient_id", sa.String(length=63), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.Column("classification", sa.String(length=40), nullable=False),
        sa.Column("reason_code", sa.String(length=40), nullable=True),
        sa.Column("decided_at", hub.store.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", hub.store.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["recipient_id"], ["recipients.id"]),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"]),
        sa.PrimaryKeyConstraint("decision_id"),
    )
    op.create_index(
        op.f("ix_triage_decisions_report_id"), "triage_decisions", ["report_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_triage_decisions_report_id"), table_name="triage_decisions")
    op.drop_table("triage_decisions")
