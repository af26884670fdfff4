"""The plans schema: patients, protocols, plans and their sessions (SQLAlchemy 2 mappings)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import new_metadata
from shared.messaging_tables import add_messaging_tables


class Base(DeclarativeBase):
    metadata = new_metadata()


outbox, processed_event = add_messaging_tables(Base.metadata)

Text = sa.Text
TextList = ARRAY(sa.Text)


class Patient(Base):
    __tablename__ = "patient"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    full_name: Mapped[str] = mapped_column(Text)
    phone: Mapped[str] = mapped_column(Text, index=True)  # E.164
    time_zone: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(Text)
    sms_consent: Mapped[bool]
    sms_consent_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    sms_consent_source: Mapped[str | None] = mapped_column(Text)
    needle_sensitive: Mapped[bool]
    allergies: Mapped[list[str]] = mapped_column(TextList, server_default="{}")
    medications: Mapped[list[str]] = mapped_column(TextList, server_default="{}")
    notes: Mapped[str] = mapped_column(Text, server_default="")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class Protocol(Base):
    """A template per indication; versioned, and a plan keeps the version it started with."""

    __tablename__ = "protocol"
    __table_args__ = (
        sa.UniqueConstraint("key", "version", name="uq_protocol_key_version"),
        sa.CheckConstraint("session_count BETWEEN 1 AND 30", name="session_count"),
        sa.CheckConstraint("tolerance_days * 2 < interval_days", name="windows_apart"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    key: Mapped[str] = mapped_column(Text)
    version: Mapped[int]
    name: Mapped[str] = mapped_column(Text)
    indication: Mapped[str] = mapped_column(Text)
    areas: Mapped[list[str]] = mapped_column(TextList)
    session_count: Mapped[int]
    interval_days: Mapped[int]
    tolerance_days: Mapped[int]
    session_minutes: Mapped[int]
    numbing_cream_advised: Mapped[bool]
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )


class Plan(Base):
    __tablename__ = "plan"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    patient_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("patient.id"), index=True)
    protocol_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("protocol.id"))
    areas: Mapped[list[str]] = mapped_column(TextList)
    start_date: Mapped[date]
    preferred_practitioner_id: Mapped[uuid.UUID | None]
    status: Mapped[str] = mapped_column(Text)
    time_zone: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    activated_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    protocol: Mapped[Protocol] = relationship(lazy="joined", innerjoin=True)
    sessions: Mapped[list[PlanSession]] = relationship(
        order_by="PlanSession.session_number", lazy="selectin", cascade="all, delete-orphan"
    )


class PlanSession(Base):
    __tablename__ = "plan_session"

    plan_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("plan.id"), primary_key=True)
    session_number: Mapped[int] = mapped_column(primary_key=True)
    target_date: Mapped[date]
    earliest_date: Mapped[date]
    latest_date: Mapped[date]
    status: Mapped[str] = mapped_column(Text)
