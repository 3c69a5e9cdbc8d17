"""declarations move from the working list Q1-Q12 to the network's standards S1-S12

A declaration of a working-list criterion that maps onto a standard is carried over under the
standard's id (Q1 police agreement to S5, Q3 form languages to S12, Q10 training to S9, Q11 yearly
figures to S4). The others (Q2 anonymity, not a rule of the network; Q9 feedback procedure, which
S11 measures) expire, with the reason kept in `expired_reason` and shown with the scorecard.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 07:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CARRIED = {"Q1": "S5", "Q3": "S12", "Q10": "S9", "Q11": "S4"}
EXPIRED = {
    "Q2": "Q2 (anonymous reporting) is not one of the network's standards: anonymity is not a "
    "rule of the network",
    "Q9": "Q9 (a feedback procedure) has no declared counterpart: S11 is measured",
}


def upgrade() -> None:
    with op.batch_alter_table("declarations") as batch:
        batch.add_column(sa.Column("expired_reason", sa.String(length=200), nullable=True))
    declarations = sa.table(
        "declarations",
        sa.column("criterion", sa.String),
        sa.column("expired_reason", sa.String),
    )
    for old, new in CARRIED.items():
        op.execute(
            declarations.update().where(declarations.c.criterion == old).values(criterion=new)
        )
    for old, reason in EXPIRED.items():
        op.execute(
            declarations.update()
            .where(declarations.c.criterion == old)
            .values(expired_reason=f"{reason}; expired when the hub moved to S1-S12")
        )


def downgrade() -> None:
    declarations = sa.table("declarations", sa.column("criterion", sa.String))
    for old, new in CARRIED.items():
        op.execute(
            declarations.update().where(declarations.c.criterion == new).values(criterion=old)
        )
    with op.batch_alter_table("declarations") as batch:
        batch.drop_column("expired_reason")
