"""report_message, report_reply, report_plan_outcome: the staff reports' read model of
notify's and plans' events (one row per message, reply and plan); appointments by session

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "report_message",
        sa.Column("message_id", sa.Uuid(), primary_key=True),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("appointment_id", sa.Uuid(), nullable=True),
        sa.Column("offer_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("status_rank", sa.SmallInteger(), nullable=False),
        sa.Column("first_at", INSTANT, nullable=False),
        sa.Column("changed_at", INSTANT, nullable=False),
    )
    op.create_index("ix_report_message_first_at", "report_message", ["first_at"])
    op.create_index("ix_report_message_appointment_id", "report_message", ["appointment_id"])
    op.create_table(
        "report_reply",
        sa.Column("appointment_id", sa.Uuid(), primary_key=True),
        sa.Column("received_at", INSTANT, primary_key=True),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("appointment_version", sa.Integer(), nullable=False),
    )
    op.create_table(
        "report_plan_outcome",
        sa.Column("plan_id", sa.Uuid(), primary_key=True),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("decided_at", INSTANT, nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
    )
    op.create_index("ix_report_plan_outcome_decided_at", "report_plan_outcome", ["decided_at"])
    # A course's appointments of any status, by session (plan_location in report_queries).
    op.create_index("ix_appointment_booking_request_id", "appointment", ["booking_request_id"])


def downgrade() -> None:
    op.drop_index("ix_appointment_booking_request_id", table_name="appointment")
    op.drop_table("report_plan_outcome")
    op.drop_table("report_reply")
    op.drop_table("report_message")
