"""staff accounts: who signs in to the staff board

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
    op.create_table(
        "staff_account",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("practitioner_id", sa.Uuid(), nullable=True),
        # scrypt$n$r$p$salt$hash (booking.web.passwords); never the password.
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("email = lower(email)", name=op.f("ck_staff_account_email_lowercase")),
        sa.CheckConstraint(
            "role IN ('admin', 'staff', 'practitioner')", name=op.f("ck_staff_account_role_known")
        ),
        # A practitioner's account names who they are (their schedule); nobody else's does.
        sa.CheckConstraint(
            "(role = 'practitioner') = (practitioner_id IS NOT NULL)",
            name=op.f("ck_staff_account_practitioner_named"),
        ),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["practitioner.id"],
            name=op.f("fk_staff_account_practitioner_id_practitioner"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_account")),
        # Emails are stored lower-cased (the check above), so this is case-insensitive.
        sa.UniqueConstraint("email", name=op.f("uq_staff_account_email")),
    )
    op.create_index(
        op.f("ix_staff_account_practitioner_id"), "staff_account", ["practitioner_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_staff_account_practitioner_id"), table_name="staff_account")
    op.drop_table("staff_account")
