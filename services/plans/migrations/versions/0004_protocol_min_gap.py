"""protocol.min_gap_days: the least number of days between two sessions of a cycle

Existing protocols get the default, interval_days - tolerance_days.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("protocol", sa.Column("min_gap_days", sa.Integer(), nullable=True))
    op.execute("UPDATE protocol SET min_gap_days = interval_days - tolerance_days")
    op.alter_column("protocol", "min_gap_days", nullable=False)
    op.create_check_constraint(
        op.f("ck_protocol_min_gap_days"), "protocol", "min_gap_days BETWEEN 1 AND interval_days"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_protocol_min_gap_days"), "protocol", type_="check")
    op.drop_column("protocol", "min_gap_days")
