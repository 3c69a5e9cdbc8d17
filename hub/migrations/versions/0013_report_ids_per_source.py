"""report ids per source: a report is known by (source, report_id); `reports.id` is the hub's key

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every report accepted so far keeps its id as its key, so no other table, stored packet or
    # audit entry changes. The column is added in place, not by copying the table: on SQLite a
    # copy would drop `reports` under the deliveries that refer to it. SQLite cannot drop the
    # placeholder default afterwards; the hub always writes the column, so it is never used.
    op.add_column(
        "reports",
        sa.Column("report_id", sa.String(length=36), nullable=False, server_default=""),
    )
    op.execute("UPDATE reports SET report_id = id")
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("reports", "report_id", server_default=None)
    op.create_index(op.f("ix_reports_report_id"), "reports", ["report_id"], unique=False)
    op.create_index(
        "uq_reports_source_report_id", "reports", ["source_id", "report_id"], unique=True
    )


def downgrade() -> None:
    # Only possible while no two sources share a report id: the old table keys reports by it.
    op.drop_index("uq_reports_source_report_id", table_name="reports")
    op.drop_index(op.f("ix_reports_report_id"), table_name="reports")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_column("report_id")
