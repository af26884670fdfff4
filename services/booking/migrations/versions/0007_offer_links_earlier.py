"""Offers, continued: the link an offer is texted with, whether a link was ever used,
the session whose change freed the time, a booked session an offer would move earlier,
and each patient's choice about earlier offers.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("patient_link", sa.Column("offer_id", sa.Uuid()))
    op.add_column("patient_link", sa.Column("used_at", sa.DateTime(timezone=True)))
    op.add_column("slot_offer", sa.Column("appointment_id", sa.Uuid()))
    op.add_column("slot_offer", sa.Column("freed_request_id", sa.Uuid()))
    op.add_column("patient", sa.Column("earlier_offers", sa.Boolean()))


def downgrade() -> None:
    op.drop_column("patient", "earlier_offers")
    op.drop_column("slot_offer", "freed_request_id")
    op.drop_column("slot_offer", "appointment_id")
    op.drop_column("patient_link", "used_at")
    op.drop_column("patient_link", "offer_id")
