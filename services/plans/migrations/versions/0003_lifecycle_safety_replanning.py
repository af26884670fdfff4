"""Plan lifecycle (pause, end), the safety acknowledgement, re-planning, protocol versions.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
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
    op.add_column(
        "patient", sa.Column("allergy_notes", sa.Text(), server_default="", nullable=False)
    )
    op.add_column(
        "patient", sa.Column("medication_notes", sa.Text(), server_default="", nullable=False)
    )
    op.add_column("patient", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("plan", sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("plan", sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("plan", sa.Column("cancel_reason", sa.Text(), nullable=True))
    op.add_column("plan", sa.Column("safety_acknowledged_by", sa.Text(), nullable=True))
    op.add_column(
        "plan", sa.Column("safety_acknowledged_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "plan", sa.Column("acknowledged_allergies", postgresql.ARRAY(sa.Text()), nullable=True)
    )
    op.add_column(
        "plan", sa.Column("acknowledged_medications", postgresql.ARRAY(sa.Text()), nullable=True)
    )
    op.add_column("plan", sa.Column("acknowledged_safety", sa.Text(), nullable=True))
    op.create_index(op.f("ix_plan_status"), "plan", ["status"], unique=False)
    op.add_column(
        "plan_session", sa.Column("kind", sa.Text(), server_default="cycle", nullable=False)
    )
    op.add_column("plan_session", sa.Column("appointment_id", sa.Uuid(), nullable=True))
    op.add_column("plan_session", sa.Column("appointment_version", sa.Integer(), nullable=True))
    op.add_column(
        "plan_session",
        sa.Column("appointment_starts_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column("plan_session", sa.Column("completed_on", sa.Date(), nullable=True))
    op.add_column(
        "plan_session", sa.Column("missed_count", sa.Integer(), server_default="0", nullable=False)
    )
    op.create_index(
        "ix_plan_session_open_by_latest",
        "plan_session",
        ["latest_date"],
        unique=False,
        postgresql_where=sa.text("status = 'open'"),
    )
    op.add_column(
        "protocol",
        sa.Column("maintenance_sessions", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column("protocol", sa.Column("maintenance_interval_days", sa.Integer(), nullable=True))
    op.add_column("protocol", sa.Column("created_by", sa.Text(), nullable=True))
    op.add_column("protocol", sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))
    # Written by hand: Alembic does not compare CHECK constraints.
    op.create_check_constraint(
        op.f("ck_protocol_maintenance_sessions"),
        "protocol",
        "maintenance_sessions BETWEEN 0 AND 30",
    )
    op.create_check_constraint(
        op.f("ck_protocol_maintenance_interval"),
        "protocol",
        "maintenance_sessions = 0 OR maintenance_interval_days >= interval_days",
    )
    op.create_check_constraint(
        op.f("ck_plan_status"),
        "plan",
        "status IN ('draft', 'active', 'paused', 'completed', 'cancelled')",
    )
    op.create_check_constraint(
        op.f("ck_plan_session_target_in_window"), "plan_session", "earliest_date <= target_date"
    )
    op.create_check_constraint(
        op.f("ck_plan_session_window_ordered"), "plan_session", "target_date <= latest_date"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_plan_session_window_ordered"), "plan_session", type_="check")
    op.drop_constraint(op.f("ck_plan_session_target_in_window"), "plan_session", type_="check")
    op.drop_constraint(op.f("ck_plan_status"), "plan", type_="check")
    op.drop_constraint(op.f("ck_protocol_maintenance_interval"), "protocol", type_="check")
    op.drop_constraint(op.f("ck_protocol_maintenance_sessions"), "protocol", type_="check")
    op.drop_column("protocol", "retired_at")
    op.drop_column("protocol", "created_by")
    op.drop_column("protocol", "maintenance_interval_days")
    op.drop_column("protocol", "maintenance_sessions")
    op.drop_index(
        "ix_plan_session_open_by_latest",
        table_name="plan_session",
        postgresql_where=sa.text("status = 'open'"),
    )
    op.drop_column("plan_session", "missed_count")
    op.drop_column("plan_session", "completed_on")
    op.drop_column("plan_session", "appointment_starts_at")
    op.drop_column("plan_session", "appointment_version")
    op.drop_column("plan_session", "appointment_id")
    op.drop_column("plan_session", "kind")
    op.drop_index(op.f("ix_plan_status"), table_name="plan")
    op.drop_column("plan", "acknowledged_safety")
    op.drop_column("plan", "acknowledged_medications")
    op.drop_column("plan", "acknowledged_allergies")
    op.drop_column("plan", "safety_acknowledged_at")
    op.drop_column("plan", "safety_acknowledged_by")
    op.drop_column("plan", "cancel_reason")
    op.drop_column("plan", "ended_at")
    op.drop_column("plan", "paused_at")
    op.drop_column("patient", "erased_at")
    op.drop_column("patient", "medication_notes")
    op.drop_column("patient", "allergy_notes")
    op.drop_table("idempotency_key")
