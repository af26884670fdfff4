"""slot_offer: freed time offered to one patient's session at a time

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "slot_offer",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("freed_by", sa.Uuid(), nullable=False),
        sa.Column("practitioner_id", sa.Uuid(), sa.ForeignKey("practitioner.id"), nullable=False),
        sa.Column("room_id", sa.Uuid(), sa.ForeignKey("room.id"), nullable=False),
        sa.Column("location_id", sa.Uuid(), sa.ForeignKey("location.id"), nullable=False),
        sa.Column("freed_from", INSTANT, nullable=False),
        sa.Column("freed_until", INSTANT, nullable=False),
        sa.Column(
            "booking_request_id", sa.Uuid(), sa.ForeignKey("booking_request.id"), nullable=False
        ),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("claim_by", INSTANT, nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("closed_at", INSTANT, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.UniqueConstraint("freed_by", "booking_request_id", name="uq_slot_offer_once"),
    )
    op.create_index(
        "uq_slot_offer_live", "slot_offer", ["freed_by"], unique=True,
        postgresql_where=sa.text("status = 'live'"),
    )  # fmt: skip
    op.create_index(
        "ix_slot_offer_live_claim_by", "slot_offer", ["claim_by"],
        postgresql_where=sa.text("status = 'live'"),
    )  # fmt: skip
    op.create_index("ix_slot_offer_patient_created", "slot_offer", ["patient_id", "created_at"])


def downgrade() -> None:
    op.drop_table("slot_offer")
