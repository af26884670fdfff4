"""booking_request.min_gap_days: the protocol's minimum gap between two sessions

Null for requests opened from events without it: booking then derives the gap from the
course's windows, as it did before.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("booking_request", sa.Column("min_gap_days", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("booking_request", "min_gap_days")
