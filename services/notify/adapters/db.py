"""The notify schema: its projections of patients and appointments, and the message log."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import new_metadata
from shared.messaging_tables import add_messaging_tables
from shared.tracing import current_traceparent


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
    #: The patient asked to be forgotten: contact data dropped, nothing more is sent.
    erased_at: Mapped[datetime | None] = mapped_column(Instant)


class Appointment(Base):
    """notify's copy of an appointment: what its messages are about."""

    __tablename__ = "appointment"
    __table_args__ = (
        sa.Index(
            "ix_appointment_upcoming_policy",
            "starts_at",
            "policy_revision",
            postgresql_where=sa.text("status IN ('booked', 'confirmed')"),
        ),
        sa.Index("ix_appointment_booking_request", "booking_request_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    version: Mapped[int]
    status: Mapped[str] = mapped_column(Text)
    patient_id: Mapped[uuid.UUID] = mapped_column(index=True)
    #: The session of a cycle it books: its invitation is moot while this is active.
    booking_request_id: Mapped[uuid.UUID | None]
    session_number: Mapped[int | None]
    total_sessions: Mapped[int | None]
    numbing_cream_advised: Mapped[bool]
    #: Named in an SMS only when the clinic's policy opts in to full text.
    treatment: Mapped[str | None] = mapped_column(Text)
    location_time_zone: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime] = mapped_column(Instant)
    ends_at: Mapped[datetime] = mapped_column(Instant)
    #: The policy revision its messages were last planned under (0: the defaults).
    policy_revision: Mapped[int] = mapped_column(server_default="0")


class Message(Base):
    """One SMS: scheduled, then sent exactly once by a dispatcher, then tracked."""

    __tablename__ = "message"
    __table_args__ = (
        # One live message of a kind per version of an appointment: a replayed event
        # cannot schedule it twice; a replaced one leaves room for its successor.
        sa.Index(
            "uq_message_live_per_version",
            "appointment_id",
            "kind",
            "appointment_version",
            unique=True,
            postgresql_where=sa.text("status <> 'replaced'"),
        ),
        sa.Index("ix_message_due", "due_at", postgresql_where=sa.text("status = 'pending'")),
        sa.Index(
            "ix_message_attention",
            "updated_at",
            postgresql_where=sa.text("status IN ('unknown', 'undelivered', 'failed')"),
        ),
        sa.Index(
            "ix_message_in_flight",
            "lease_until",
            postgresql_where=sa.text("status = 'sending'"),
        ),
        sa.Index(
            "ix_message_pending_request",
            "booking_request_id",
            postgresql_where=sa.text("status = 'pending' AND booking_request_id IS NOT NULL"),
        ),
        sa.Index(
            "ix_message_pending_offer",
            "offer_id",
            postgresql_where=sa.text("status = 'pending' AND offer_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    patient_id: Mapped[uuid.UUID] = mapped_column(index=True)
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    appointment_version: Mapped[int | None]
    #: An invitation's premise: this booking request is still open, this plan session
    #: still scheduled.
    booking_request_id: Mapped[uuid.UUID | None]
    plan_id: Mapped[uuid.UUID | None]
    session_number: Mapped[int | None]
    #: An offer message's premise: this earlier-slot offer is still live.
    offer_id: Mapped[uuid.UUID | None]
    kind: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    due_at: Mapped[datetime] = mapped_column(Instant)
    #: Past this instant the message is useless (the session has started): never send it.
    expires_at: Mapped[datetime | None] = mapped_column(Instant)
    #: The session time the message is about: what was already said stays said.
    session_starts_at: Mapped[datetime | None] = mapped_column(Instant)
    language: Mapped[str | None] = mapped_column(Text)
    #: Kinds whose content this message carries (late-booking and quiet-hours folds).
    carries: Mapped[list[str]] = mapped_column(
        sa.ARRAY(Text), server_default=sa.text("'{}'::text[]")
    )
    #: The number it went to (reconciliation asks Twilio about it); dropped on erasure.
    sent_to: Mapped[str | None] = mapped_column(Text)
    #: When the last send request left: lateness is this minus due_at.
    attempted_at: Mapped[datetime | None] = mapped_column(Instant)
    status: Mapped[str] = mapped_column(Text)
    status_reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(server_default="0")
    lease_until: Mapped[datetime | None] = mapped_column(Instant)
    twilio_sid: Mapped[str | None] = mapped_column(Text, unique=True)
    error_code: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(Instant)
    sent_at: Mapped[datetime | None] = mapped_column(Instant)
    updated_at: Mapped[datetime] = mapped_column(Instant)
    #: The trace of the event that planned it (the current span's, filled in at insert):
    #: its send continues that trace (shared.tracing).
    traceparent: Mapped[str | None] = mapped_column(Text, default=current_traceparent)


class Offer(Base):
    """notify's copy of an earlier-slot offer's state, fed by booking's Offer* events: its
    SMS goes out only while it is live, and a NO reply finds it."""

    __tablename__ = "offer"
    __table_args__ = (
        sa.Index(
            "ix_offer_live_patient", "patient_id", postgresql_where=sa.text("status = 'live'")
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    patient_id: Mapped[uuid.UUID]
    #: shared.contracts.booking.OfferStatus
    status: Mapped[str] = mapped_column(Text)
    claim_by: Mapped[datetime] = mapped_column(Instant)
    updated_at: Mapped[datetime] = mapped_column(Instant)


class PolicyDocument(Base):
    """The clinic's message policy (one row), as admins last saved it."""

    __tablename__ = "message_policy"
    __table_args__ = (sa.CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document: Mapped[dict[str, object]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(Instant)
    updated_by: Mapped[str] = mapped_column(Text)
    #: Counts saves: appointments planned under an older revision are planned again.
    revision: Mapped[int] = mapped_column(server_default="1")


class TemplateOverride(Base):
    """A clinic's own text for one kind of message in one language."""

    __tablename__ = "message_template"

    language: Mapped[str] = mapped_column(Text, primary_key=True)
    kind: Mapped[str] = mapped_column(Text, primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(Instant)
    updated_by: Mapped[str] = mapped_column(Text)


class InboundSms(Base):
    """A patient's SMS to the clinic: what it asked for and what notify did (no body kept)."""

    __tablename__ = "inbound_sms"

    #: Twilio's MessageSid: a webhook Twilio retries is applied once.
    sid: Mapped[str] = mapped_column(Text, primary_key=True)
    patient_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    keyword: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(Instant)
