"""booking rules: weekly hours, time off, holds, self-booking links, rate limits, idempotency

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotency_key",
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.Text(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_idempotency_key")),
    )
    op.create_table(
        "patient_link",
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_patient_link")),
    )
    op.create_index(
        op.f("ix_patient_link_patient_id"), "patient_link", ["patient_id"], unique=False
    )
    op.create_table(
        "rate_limit_hit",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name=op.f("pk_rate_limit_hit")),
    )
    op.create_table(
        "time_off",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("resource_kind", sa.Text(), nullable=False),
        sa.Column("resource_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint("starts_at < ends_at", name=op.f("ck_time_off_starts_before_ends")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_time_off")),
    )
    op.create_index(
        "ix_time_off_resource_starts", "time_off", ["resource_id", "starts_at"], unique=False
    )
    op.create_table(
        "working_hours",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("resource_kind", sa.Text(), nullable=False),
        sa.Column("resource_id", sa.Uuid(), nullable=False),
        sa.Column("weekday", sa.SmallInteger(), nullable=False),
        sa.Column("opens", sa.Time(), nullable=False),
        sa.Column("closes", sa.Time(), nullable=False),
        sa.CheckConstraint("opens < closes", name=op.f("ck_working_hours_opens_before_closes")),
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name=op.f("ck_working_hours_weekday_range")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_working_hours")),
    )
    op.create_index("ix_working_hours_resource", "working_hours", ["resource_id"], unique=False)
    op.add_column(
        "appointment", sa.Column("hold_expires_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("appointment", sa.Column("changed_by", sa.Text(), nullable=True))
    op.add_column("appointment", sa.Column("reason", sa.Text(), nullable=True))
    op.add_column("appointment", sa.Column("confirmation_status", sa.Text(), nullable=True))
    op.add_column("appointment", sa.Column("reminder_status", sa.Text(), nullable=True))
    # The hold sweeper reads only held rows.
    op.create_index(
        "ix_appointment_held_expiry",
        "appointment",
        ["hold_expires_at"],
        unique=False,
        postgresql_where=sa.text("status = 'held'"),
    )
    op.create_index(
        "ix_appointment_location_starts", "appointment", ["location_id", "starts_at"], unique=False
    )
    op.create_index(
        "ix_appointment_practitioner_starts",
        "appointment",
        ["practitioner_id", "starts_at"],
        unique=False,
    )
    op.create_index(
        "ix_appointment_room_starts", "appointment", ["room_id", "starts_at"], unique=False
    )
    # One active appointment per session of a cycle, even under concurrent holds.
    op.create_index(
        "uq_appointment_active_booking_request",
        "appointment",
        ["booking_request_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('held', 'booked', 'confirmed', 'checked_in')"),
    )
    op.create_index(
        "ix_booking_request_open_latest_date",
        "booking_request",
        ["latest_date"],
        unique=False,
        postgresql_where=sa.text("status = 'open'"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_booking_request_open_latest_date",
        table_name="booking_request",
        postgresql_where=sa.text("status = 'open'"),
    )
    op.drop_index(
        "uq_appointment_active_booking_request",
        table_name="appointment",
        postgresql_where=sa.text("status IN ('held', 'booked', 'confirmed', 'checked_in')"),
    )
    op.drop_index("ix_appointment_room_starts", table_name="appointment")
    op.drop_index("ix_appointment_practitioner_starts", table_name="appointment")
    op.drop_index("ix_appointment_location_starts", table_name="appointment")
    op.drop_index(
        "ix_appointment_held_expiry",
        table_name="appointment",
        postgresql_where=sa.text("status = 'held'"),
    )
    op.drop_column("appointment", "reminder_status")
    op.drop_column("appointment", "confirmation_status")
    op.drop_column("appointment", "reason")
    op.drop_column("appointment", "changed_by")
    op.drop_column("appointment", "hold_expires_at")
    op.drop_index("ix_working_hours_resource", table_name="working_hours")
    op.drop_table("working_hours")
    op.drop_index("ix_time_off_resource_starts", table_name="time_off")
    op.drop_table("time_off")
    op.drop_table("rate_limit_hit")
    op.drop_index(op.f("ix_patient_link_patient_id"), table_name="patient_link")
    op.drop_table("patient_link")
    op.drop_table("idempotency_key")
