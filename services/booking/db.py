"""The booking schema: resources, the patients it books, requests and appointments."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, ExcludeConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import new_metadata
from shared.messaging_tables import add_messaging_tables


class Base(DeclarativeBase):
    metadata = new_metadata()


outbox, processed_event = add_messaging_tables(Base.metadata)

Text = sa.Text
Instant = sa.DateTime(timezone=True)

#: Appointment statuses that hold a practitioner's and a room's time.
ACTIVE_STATUSES = ("held", "booked", "confirmed", "checked_in")
_ACTIVE = sa.text("status IN ('held', 'booked', 'confirmed', 'checked_in')")
# The time an appointment keeps from others: itself plus its buffers, half-open.
_BLOCKED = sa.text("tstzrange(blocked_from, blocked_until, '[)')")


class Location(Base):
    __tablename__ = "location"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(Text)
    time_zone: Mapped[str] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)


class Practitioner(Base):
    __tablename__ = "practitioner"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    location_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("location.id"), index=True)
    full_name: Mapped[str] = mapped_column(Text)
    indications: Mapped[list[str]] = mapped_column(ARRAY(Text))


class Room(Base):
    __tablename__ = "room"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    location_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("location.id"), index=True)
    name: Mapped[str] = mapped_column(Text)


class Patient(Base):
    """Booking's projection of a patient, fed by plans' events."""

    __tablename__ = "patient"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    full_name: Mapped[str] = mapped_column(Text)
    time_zone: Mapped[str] = mapped_column(Text)
    needle_sensitive: Mapped[bool]
    erased: Mapped[bool] = mapped_column(server_default=sa.false())


class BookingRequest(Base):
    """One session of a cycle waiting to be booked inside its window."""

    __tablename__ = "booking_request"
    __table_args__ = (sa.UniqueConstraint("plan_id", "session_number"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    plan_id: Mapped[uuid.UUID]
    patient_id: Mapped[uuid.UUID] = mapped_column(index=True)
    session_number: Mapped[int]
    total_sessions: Mapped[int]
    target_date: Mapped[date]
    earliest_date: Mapped[date]
    latest_date: Mapped[date]
    indication: Mapped[str] = mapped_column(Text)
    treatment: Mapped[str] = mapped_column(Text)
    session_minutes: Mapped[int]
    numbing_cream_advised: Mapped[bool]
    preferred_practitioner_id: Mapped[uuid.UUID | None]
    time_zone: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Instant)


class Appointment(Base):
    """A practitioner, a room and a time for one patient.

    PostgreSQL itself forbids double booking: two active appointments never
    overlap on one practitioner or one room, buffers included.
    """

    __tablename__ = "appointment"
    __table_args__ = (
        sa.CheckConstraint("starts_at < ends_at", name="starts_before_ends"),
        sa.CheckConstraint(
            "blocked_from <= starts_at AND ends_at <= blocked_until", name="buffers_around"
        ),
        ExcludeConstraint(
            ("practitioner_id", "="),
            (_BLOCKED, "&&"),
            name="no_double_booking_practitioner",
            using="gist",
            where=_ACTIVE,
        ),
        ExcludeConstraint(
            ("room_id", "="),
            (_BLOCKED, "&&"),
            name="no_double_booking_room",
            using="gist",
            where=_ACTIVE,
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    version: Mapped[int]
    status: Mapped[str] = mapped_column(Text)
    patient_id: Mapped[uuid.UUID] = mapped_column(index=True)
    booking_request_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("booking_request.id")
    )
    practitioner_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("practitioner.id"))
    room_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("room.id"))
    location_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("location.id"))
    starts_at: Mapped[datetime] = mapped_column(Instant)
    ends_at: Mapped[datetime] = mapped_column(Instant)
    # Buffers included; computed by the domain (timestamptz arithmetic is not immutable,
    # so PostgreSQL cannot compute it in a generated column).
    blocked_from: Mapped[datetime] = mapped_column(Instant)
    blocked_until: Mapped[datetime] = mapped_column(Instant)
    created_at: Mapped[datetime] = mapped_column(Instant)
    updated_at: Mapped[datetime] = mapped_column(Instant)
