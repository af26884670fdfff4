"""The booking schema: resources, the patients it books, requests and appointments."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, ExcludeConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from booking.domain.appointment import AppointmentRules
from booking.domain.request import RequestRules
from shared.db import new_metadata
from shared.idempotency import add_idempotency_table
from shared.messaging_tables import add_messaging_tables


class Base(DeclarativeBase):
    metadata = new_metadata()


outbox, processed_event = add_messaging_tables(Base.metadata)
idempotency_keys = add_idempotency_table(Base.metadata)

Text = sa.Text
Instant = sa.DateTime(timezone=True)

#: shared.contracts.booking.ACTIVE as SQL: the statuses that hold a practitioner's and a
#: room's time (the exclusion constraints' WHERE, as the migrations wrote it).
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
    #: Whether a booked session of theirs may be offered freed time earlier in its window.
    #: None: the default, on once they have used a self-booking link (staff can set it).
    earlier_offers: Mapped[bool | None] = mapped_column(default=None)


class BookingRequest(Base, RequestRules):
    """One session of a cycle waiting to be booked inside its window."""

    __tablename__ = "booking_request"
    __table_args__ = (
        sa.UniqueConstraint("plan_id", "session_number"),
        # The staff list of requests whose window is closing.
        sa.Index(
            "ix_booking_request_open_latest_date",
            "latest_date",
            postgresql_where=sa.text("status = 'open'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    plan_id: Mapped[uuid.UUID]
    patient_id: Mapped[uuid.UUID] = mapped_column(index=True)
    session_number: Mapped[int]
    total_sessions: Mapped[int]
    target_date: Mapped[date]
    earliest_date: Mapped[date]
    latest_date: Mapped[date]
    #: The protocol's least number of days between two sessions of the course (plans
    #: sends it with the windows); None for requests opened before it was sent.
    min_gap_days: Mapped[int | None] = mapped_column(default=None)
    indication: Mapped[str] = mapped_column(Text)
    treatment: Mapped[str] = mapped_column(Text)
    session_minutes: Mapped[int]
    numbing_cream_advised: Mapped[bool]
    preferred_practitioner_id: Mapped[uuid.UUID | None]
    time_zone: Mapped[str] = mapped_column(Text)
    #: open | held | booked | completed | withdrawn (plan paused) | cancelled (plan cancelled)
    status: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Instant)


class Appointment(Base, AppointmentRules):
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
        # One active appointment per session of a cycle.
        sa.Index(
            "uq_appointment_active_booking_request",
            "booking_request_id",
            unique=True,
            postgresql_where=_ACTIVE,
        ),
        # The sweeper finds expired holds without scanning the table.
        sa.Index(
            "ix_appointment_held_expiry",
            "hold_expires_at",
            postgresql_where=sa.text("status = 'held'"),
        ),
        sa.Index("ix_appointment_practitioner_starts", "practitioner_id", "starts_at"),
        sa.Index("ix_appointment_room_starts", "room_id", "starts_at"),
        sa.Index("ix_appointment_location_starts", "location_id", "starts_at"),
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
    hold_expires_at: Mapped[datetime | None] = mapped_column(Instant)
    #: Who made the last change (patient, staff, plan, system) and why, when it matters.
    changed_by: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    #: Where notify's messages about it stand (from MessageStatusChanged), for the schedule.
    confirmation_status: Mapped[str | None] = mapped_column(Text)
    reminder_status: Mapped[str | None] = mapped_column(Text)


class SlotOffer(Base):
    """Freed time offered to one patient's session, one offer at a time per freed slot."""

    __tablename__ = "slot_offer"
    __table_args__ = (
        # At most one live offer per freed slot; never the same slot twice to one session.
        sa.Index(
            "uq_slot_offer_live",
            "freed_by",
            unique=True,
            postgresql_where=sa.text("status = 'live'"),
        ),
        sa.UniqueConstraint("freed_by", "booking_request_id", name="uq_slot_offer_once"),
        # The sweeper finds offers past their claim window without scanning the table.
        sa.Index(
            "ix_slot_offer_live_claim_by", "claim_by", postgresql_where=sa.text("status = 'live'")
        ),
        sa.Index("ix_slot_offer_patient_created", "patient_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    #: What freed the time: the appointment cancelled (or run out), or one of its moves.
    freed_by: Mapped[uuid.UUID]
    #: The session whose appointment freed it: never offered its own time back.
    freed_request_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    practitioner_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("practitioner.id"))
    room_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("room.id"))
    location_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("location.id"))
    #: The freed time, as the freed appointment had it.
    freed_from: Mapped[datetime] = mapped_column(Instant)
    freed_until: Mapped[datetime] = mapped_column(Instant)
    booking_request_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("booking_request.id"))
    patient_id: Mapped[uuid.UUID]
    #: The patient's booked session the offer would move earlier (None: an open session).
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    #: live | claimed | declined | expired | withdrawn (shared.contracts.booking.OfferStatus)
    status: Mapped[str] = mapped_column(Text)
    claim_by: Mapped[datetime] = mapped_column(Instant)
    created_at: Mapped[datetime] = mapped_column(Instant)
    closed_at: Mapped[datetime | None] = mapped_column(Instant, default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)


class ClinicQuietHours(Base):
    """The clinic's quiet hours, as notify's message policy has them (QuietHoursChanged,
    the newest revision kept): no earlier-slot offer is made in them. No row: 21:00-08:00,
    the policy's defaults."""

    __tablename__ = "clinic_quiet_hours"
    __table_args__ = (sa.CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    quiet_start: Mapped[time] = mapped_column(sa.Time)
    quiet_end: Mapped[time] = mapped_column(sa.Time)
    revision: Mapped[int]


class WorkingHours(Base):
    """A weekly opening span of a location, a practitioner or a room (wall clock there).

    A practitioner or room without spans of its own follows its location's; a location
    without any is open every day 08:00-20:00.
    """

    __tablename__ = "working_hours"
    __table_args__ = (
        sa.CheckConstraint("opens < closes", name="opens_before_closes"),
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),
        sa.Index("ix_working_hours_resource", "resource_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    resource_kind: Mapped[str] = mapped_column(Text)  # location | practitioner | room
    resource_id: Mapped[uuid.UUID]
    weekday: Mapped[int] = mapped_column(sa.SmallInteger)  # 0 = Monday
    opens: Mapped[time]
    closes: Mapped[time]


class TimeOff(Base):
    """A practitioner's leave, a room out of use, or a location closed."""

    __tablename__ = "time_off"
    __table_args__ = (
        sa.CheckConstraint("starts_at < ends_at", name="starts_before_ends"),
        sa.Index("ix_time_off_resource_starts", "resource_id", "starts_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    resource_kind: Mapped[str] = mapped_column(Text)
    resource_id: Mapped[uuid.UUID]
    starts_at: Mapped[datetime] = mapped_column(Instant)
    ends_at: Mapped[datetime] = mapped_column(Instant)
    reason: Mapped[str | None] = mapped_column(Text)


class PatientLink(Base):
    """A self-booking link: only the token's hash is stored, scoped to one patient."""

    __tablename__ = "patient_link"

    token_hash: Mapped[str] = mapped_column(Text, primary_key=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(Instant)
    expires_at: Mapped[datetime] = mapped_column(Instant)
    #: The earlier-slot offer the link was texted for: its page opens on it.
    offer_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    #: When the patient first opened it: a patient who books online (earlier offers on).
    used_at: Mapped[datetime | None] = mapped_column(Instant, default=None)


class RateLimitHit(Base):
    """Requests counted per caller and fixed window, shared by every replica."""

    __tablename__ = "rate_limit_hit"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    window_start: Mapped[datetime] = mapped_column(Instant, primary_key=True)
    hits: Mapped[int]


class CalendarFeedToken(Base):
    """The secret in a practitioner's subscribable calendar URL: only its hash is stored,
    one per practitioner, so issuing a new one (rotation) retires the old at once."""

    __tablename__ = "calendar_feed_token"

    practitioner_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("practitioner.id"), primary_key=True
    )
    token_hash: Mapped[str] = mapped_column(Text, unique=True)
    created_at: Mapped[datetime] = mapped_column(Instant)


# The staff reports' read model (use_cases/report_model.py): what booking keeps of other
# services' events for the reports, one row per message, reply and plan, so replaying
# an event changes nothing.


class ReportMessage(Base):
    """An SMS of notify's as the reports count it (MessageStatusChanged): its latest status."""

    __tablename__ = "report_message"
    __table_args__ = (sa.Index("ix_report_message_first_at", "first_at"),)

    message_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    patient_id: Mapped[uuid.UUID]
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    offer_id: Mapped[uuid.UUID | None]
    kind: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    #: The status's place in a message's life (domain.reports.STATUS_RANK): a status
    #: reported at the same instant as the kept one replaces it only if it is later.
    status_rank: Mapped[int] = mapped_column(sa.SmallInteger)
    #: When notify first reported it, and when the kept status was reported.
    first_at: Mapped[datetime] = mapped_column(Instant)
    changed_at: Mapped[datetime] = mapped_column(Instant)


class ReportReply(Base):
    """A patient's "C" about an appointment (ConfirmationReceived)."""

    __tablename__ = "report_reply"

    appointment_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(Instant, primary_key=True)
    patient_id: Mapped[uuid.UUID]
    appointment_version: Mapped[int]


class ReportPlanOutcome(Base):
    """How a plan ended (plans' PlanCompleted, PlanCancelled): completed or dropped."""

    __tablename__ = "report_plan_outcome"
    __table_args__ = (sa.Index("ix_report_plan_outcome_decided_at", "decided_at"),)

    plan_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    patient_id: Mapped[uuid.UUID]
    outcome: Mapped[str] = mapped_column(Text)  # completed | dropped
    #: The event's time: when plans recorded the ending.
    decided_at: Mapped[datetime] = mapped_column(Instant)
    reason: Mapped[str | None] = mapped_column(Text)


#: The reports find a course's appointments of any status by their session (the unique
#: index on booking_request_id covers active appointments only).
sa.Index("ix_appointment_booking_request_id", Appointment.booking_request_id)
