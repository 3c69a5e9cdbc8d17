"""push delivery, retries, retention

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 07:08:45.007886
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hub.store

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("next_attempt_at", hub.store.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("window_start", hub.store.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("last_error", sa.String(length=300), nullable=True))
        batch_op.add_column(
            sa.Column("dead_at", hub.store.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("purged_at", hub.store.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.alter_column("packet", existing_type=sa.VARCHAR(), nullable=True)
        batch_op.create_index("ix_deliveries_due", ["state", "next_attempt_at"], unique=False)

    # Deliveries from before push existed are due now, their retry window starting at creation.
    op.execute("UPDATE deliveries SET next_attempt_at = created_at, window_start = created_at")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.alter_column(
            "next_attempt_at", existing_type=hub.store.UTCDateTime(timezone=True), nullable=False
        )
        batch_op.alter_column(
            "window_start", existing_type=hub.store.UTCDateTime(timezone=True), nullable=False
        )
        batch_op.create_index(
            batch_op.f("ix_deliveries_recipient_key_id"), ["recipient_key_id"], unique=False
        )

    with op.batch_alter_table("recipients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("push_url", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("webhook_secret", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recipients", schema=None) as batch_op:
        batch_op.drop_column("webhook_secret")
        batch_op.drop_column("push_url")

    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveries_recipient_key_id"))
        batch_op.drop_index("ix_deliveries_due")
        batch_op.alter_column("packet", existing_type=sa.VARCHAR(), nullable=False)
        batch_op.drop_column("purged_at")
        batch_op.drop_column("dead_at")
        batch_op.drop_column("last_error")
        batch_op.drop_column("window_start")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("attempts")
