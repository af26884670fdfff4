"""calendar feed tokens: a practitioner's subscribable iCalendar URL

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
    op.create_table(
        "calendar_feed_token",
        sa.Column("practitioner_id", sa.Uuid(), nullable=False),
        # SHA-256 of the token in the feed URL (shared.auth.hash_patient_token); never the token.
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["practitioner.id"],
            name=op.f("fk_calendar_feed_token_practitioner_id_practitioner"),
        ),
        sa.PrimaryKeyConstraint("practitioner_id", name=op.f("pk_calendar_feed_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_calendar_feed_token_token_hash")),
    )


def downgrade() -> None:
    op.drop_table("calendar_feed_token")
