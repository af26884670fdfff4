"""Staff accounts: who signs in to the board (booking's schema, migration 0003)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from booking.adapters.db import Base


class StaffAccount(Base):
    """A member of staff who signs in with an email and a password."""

    __tablename__ = "staff_account"
    __table_args__ = (
        sa.UniqueConstraint("email"),
        sa.CheckConstraint("email = lower(email)", name="email_lowercase"),
        sa.CheckConstraint("role IN ('admin', 'staff', 'practitioner')", name="role_known"),
        # A practitioner's account names who they are; nobody else's does.
        sa.CheckConstraint(
            "(role = 'practitioner') = (practitioner_id IS NOT NULL)",
            name="practitioner_named",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(sa.Text)
    display_name: Mapped[str] = mapped_column(sa.Text)
    role: Mapped[str] = mapped_column(sa.Text)
    practitioner_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("practitioner.id"), index=True
    )
    password_hash: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
