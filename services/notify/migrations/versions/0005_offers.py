"""Earlier-slot offers: notify's copy of each offer's state (the premise of its SMS),
and the offer an ``offer`` message texts.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "offer",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("patient_id", UUID(as_uuid=True), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("claim_by", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_offer_live_patient",
        "offer",
        ["patient_id"],
        postgresql_where=sa.text("status = 'live'"),
    )
    op.add_column("message", sa.Column("offer_id", UUID(as_uuid=True)))
    op.create_index(
        "ix_message_pending_offer",
        "message",
        ["offer_id"],
        postgresql_where=sa.text("status = 'pending' AND offer_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_message_pending_offer", table_name="message")
    op.drop_column("message", "offer_id")
    op.drop_index("ix_offer_live_patient", table_name="offer")
    op.drop_table("offer")
