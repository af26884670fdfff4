"""Policy revisions: a saved policy re-plans the messages of upcoming appointments.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "message_policy",
        sa.Column("revision", sa.Integer(), server_default="1", nullable=False),
    )
    op.add_column(
        "appointment",
        sa.Column("policy_revision", sa.Integer(), server_default="0", nullable=False),
    )
    # The replanner looks for upcoming appointments planned under an older revision.
    op.create_index(
        "ix_appointment_upcoming_policy",
        "appointment",
        ["starts_at", "policy_revision"],
        postgresql_where=sa.text("status IN ('booked', 'confirmed')"),
    )


def downgrade() -> None:
    op.drop_index("ix_appointment_upcoming_policy", table_name="appointment")
    op.drop_column("appointment", "policy_revision")
    op.drop_column("message_policy", "revision")
