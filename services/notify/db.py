"""The notify schema: its projections of patients and appointments, and the message log."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import new_metadata
from shared.messaging_tables import add_messaging_tables


class Base(DeclarativeBase):
    metadata = new_metadata()


outbox, processed_event = add_messaging_tables(Base.metadata)

Text = sa.Text
Instant = sa.DateTime(timezone=True)


class Patient(Base):
    """notify's copy of a patient's contact data, fed by plans' events."""

    __tablename__ = "patient"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    full_name: Mapped[str] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text, index=True)
    time_zone: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(Text)
    sms_consent: Mapped[bool]
    needle_sensitive: Mapped[bool]
    #: Set when the patient texted STOP (or another opt-out word).
    opted_out_at: Mapped[datetime | None] = mapped_column(Instant)


class Appointment(Base):
    """notify's copy of an appointment: what its messages are about."""

    __tablename__ = "appointment"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    version: Mapped[int]
    status: Mapped[str] = mapped_column(Text)
    patient_id: Mapped[uuid.UUID] = mapped_column(index=True)
    session_number: Mapped[int | None]
    total_sessions: Mapped[int | None]
    numbing_cream_advised: Mapped[bool]
    location_time_zone: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime] = mapped_column(Instant)
    ends_at: Mapped[datetime] = mapped_column(Instant)


class Message(Base):
    """One SMS: scheduled, then sent exactly once by a dispatcher, then tracked."""

    __tablename__ = "message"
    __table_args__ = (
        # One message of a kind per version of an appointment: a redelivered or
        # replayed event cannot schedule it twice.
        sa.UniqueConstraint(
            "appointment_id", "kind", "appointment_version", name="uq_message_per_version"
        ),
        sa.Index("ix_message_due", "due_at", postgresql_where=sa.text("status = 'pending'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    patient_id: Mapped[uuid.UUID] = mapped_column(index=True)
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    appointment_version: Mapped[int | None]
    kind: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    due_at: Mapped[datetime] = mapped_column(Instant)
    #: Past this instant the message is useless (the session has started): never send it.
    expires_at: Mapped[datetime | None] = mapped_column(Instant)
    status: Mapped[str] = mapped_column(Text)
    status_reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(server_default="0")
    lease_until: Mapped[datetime | None] = mapped_column(Instant)
    twilio_sid: Mapped[str | None] = mapped_column(Text, unique=True)
    error_code: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(Instant)
    sent_at: Mapped[datetime | None] = mapped_column(Instant)
    updated_at: Mapped[datetime] = mapped_column(Instant)
