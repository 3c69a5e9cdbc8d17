"""audit tree heads keep their frontier, so the next head reads only newer entries

Heads signed before this migration have none; the next head is then computed from every entry
once, and keeps its frontier from there on.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 09:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_tree_heads") as batch:
        batch.add_column(sa.Column("frontier", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_tree_heads") as batch:
        batch.drop_column("frontier")
