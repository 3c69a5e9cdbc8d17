"""credential expiry and ids, administrators

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 07:46:06.976227
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hub.store

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "administrators",
        sa.Column("id", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", hub.store.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.add_column(sa.Column("credential_id", sa.String(length=21), nullable=True))
        batch_op.add_column(
            sa.Column("expires_at", hub.store.UTCDateTime(timezone=True), nullable=True)
        )
    # Credentials issued before ids existed get theirs from their hash, as new ones do.
    op.execute("UPDATE credentials SET credential_id = 'cred-' || substr(token_hash, 1, 16)")
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.alter_column("credential_id", existing_type=sa.String(length=21), nullable=False)
        batch_op.create_index(
            batch_op.f("ix_credentials_credential_id"), ["credential_id"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credentials_credential_id"))
        batch_op.drop_column("expires_at")
        batch_op.drop_column("credential_id")

    op.drop_table("administrators")
