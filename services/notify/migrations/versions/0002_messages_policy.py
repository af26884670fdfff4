"""The full message policy: stored policy and templates, inbound SMS, richer message rows.

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
        "inbound_sms",
        sa.Column("sid", sa.Text(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=True),
        sa.Column("keyword", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sid", name=op.f("pk_inbound_sms")),
    )
    op.create_index(op.f("ix_inbound_sms_patient_id"), "inbound_sms", ["patient_id"], unique=False)
    op.create_table(
        "message_policy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_message_policy_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_policy")),
    )
    op.create_table(
        "message_template",
        sa.Column("language", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("language", "kind", name=op.f("pk_message_template")),
    )
    op.add_column("appointment", sa.Column("treatment", sa.Text(), nullable=True))
    op.add_column(
        "message", sa.Column("session_starts_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("message", sa.Column("language", sa.Text(), nullable=True))
    op.add_column(
        "message",
        sa.Column(
            "carries", sa.ARRAY(sa.Text()), server_default=sa.text("'{}'::text[]"), nullable=False
        ),
    )
    op.add_column("message", sa.Column("sent_to", sa.Text(), nullable=True))
    op.add_column("message", sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=True))
    # A replaced message must leave room for its successor of the same version.
    op.drop_constraint(op.f("uq_message_per_version"), "message", type_="unique")
    op.create_index(
        "ix_message_attention",
        "message",
        ["updated_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('unknown', 'undelivered', 'failed')"),
    )
    op.create_index(
        "ix_message_in_flight",
        "message",
        ["lease_until"],
        unique=False,
        postgresql_where=sa.text("status = 'sending'"),
    )
    op.create_index(
        "uq_message_live_per_version",
        "message",
        ["appointment_id", "kind", "appointment_version"],
        unique=True,
        postgresql_where=sa.text("status <> 'replaced'"),
    )
    op.add_column("patient", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("patient", "erased_at")
    op.drop_index(
        "uq_message_live_per_version",
        table_name="message",
        postgresql_where=sa.text("status <> 'replaced'"),
    )
    op.drop_index(
        "ix_message_in_flight", table_name="message", postgresql_where=sa.text("status = 'sending'")
    )
    op.drop_index(
        "ix_message_attention",
        table_name="message",
        postgresql_where=sa.text("status IN ('unknown', 'undelivered', 'failed')"),
    )
    op.create_unique_constraint(
        op.f("uq_message_per_version"), "message", ["appointment_id", "kind", "appointment_version"]
    )
    op.drop_column("message", "attempted_at")
    op.drop_column("message", "sent_to")
    op.drop_column("message", "carries")
    op.drop_column("message", "language")
    op.drop_column("message", "session_starts_at")
    op.drop_column("appointment", "treatment")
    op.drop_table("message_template")
    op.drop_table("message_policy")
    op.drop_index(op.f("ix_inbound_sms_patient_id"), table_name="inbound_sms")
    op.drop_table("inbound_sms")
