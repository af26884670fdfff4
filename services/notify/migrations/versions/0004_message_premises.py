"""What each message stands on: an invitation's booking request (and plan session), an
appointment's booking request, so a message whose premise is gone is withdrawn.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("message", sa.Column("booking_request_id", UUID(as_uuid=True)))
    op.add_column("message", sa.Column("plan_id", UUID(as_uuid=True)))
    op.add_column("message", sa.Column("session_number", sa.Integer()))
    op.create_index(
        "ix_message_pending_request",
        "message",
        ["booking_request_id"],
        postgresql_where=sa.text("status = 'pending' AND booking_request_id IS NOT NULL"),
    )
    op.add_column("appointment", sa.Column("booking_request_id", UUID(as_uuid=True)))
    op.create_index("ix_appointment_booking_request", "appointment", ["booking_request_id"])


def downgrade() -> None:
    op.drop_index("ix_appointment_booking_request", table_name="appointment")
    op.drop_column("appointment", "booking_request_id")
    op.drop_index("ix_message_pending_request", table_name="message")
    op.drop_column("message", "session_number")
    op.drop_column("message", "plan_id")
    op.drop_column("message", "booking_request_id")
