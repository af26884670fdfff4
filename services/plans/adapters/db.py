"""The plans schema: patients, protocols, plans and their sessions (SQLAlchemy 2 mappings)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from plans.domain.cycle import Cadence
from plans.domain.safety import SafetyRecord
from shared.contracts.plans import SessionWindow
from shared.db import new_metadata
from shared.idempotency import add_idempotency_table
from shared.messaging_tables import add_messaging_tables


class Base(DeclarativeBase):
    metadata = new_metadata()


outbox, processed_event = add_messaging_tables(Base.metadata)
idempotency_keys = add_idempotency_table(Base.metadata)

Text = sa.Text
TextList = ARRAY(sa.Text)
Instant = sa.DateTime(timezone=True)


class Patient(Base):
    __tablename__ = "patient"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    full_name: Mapped[str] = mapped_column(Text)
    phone: Mapped[str] = mapped_column(Text, index=True)  # E.164
    time_zone: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(Text)
    sms_consent: Mapped[bool]
    sms_consent_at: Mapped[datetime | None] = mapped_column(Instant)
    sms_consent_source: Mapped[str | None] = mapped_column(Text)
    needle_sensitive: Mapped[bool]
    allergies: Mapped[list[str]] = mapped_column(TextList, server_default="{}")
    allergy_notes: Mapped[str] = mapped_column(Text, server_default="", default="")
    medications: Mapped[list[str]] = mapped_column(TextList, server_default="{}")
    medication_notes: Mapped[str] = mapped_column(Text, server_default="", default="")
    notes: Mapped[str] = mapped_column(Text, server_default="")
    created_at: Mapped[datetime] = mapped_column(Instant)
    updated_at: Mapped[datetime] = mapped_column(Instant)
    #: Set when the patient asked to be forgotten; their personal data is gone.
    erased_at: Mapped[datetime | None] = mapped_column(Instant, default=None)

    def safety(self) -> SafetyRecord:
        notes = "\n".join(n for n in (self.allergy_notes, self.medication_notes) if n)
        return SafetyRecord.of(self.allergies, self.medications, notes)


def _default_min_gap(context: Any) -> int:
    """A row inserted without a minimum gap gets the protocol's default."""
    values = context.get_current_parameters()
    return int(values["interval_days"]) - int(values["tolerance_days"])


class Protocol(Base):
    """A template per indication; versioned, and a plan keeps the version it started with."""

    __tablename__ = "protocol"
    __table_args__ = (
        sa.UniqueConstraint("key", "version", name="uq_protocol_key_version"),
        sa.CheckConstraint("session_count BETWEEN 1 AND 30", name="session_count"),
        sa.CheckConstraint("tolerance_days * 2 < interval_days", name="windows_apart"),
        sa.CheckConstraint("min_gap_days BETWEEN 1 AND interval_days", name="min_gap_days"),
        sa.CheckConstraint("maintenance_sessions BETWEEN 0 AND 30", name="maintenance_sessions"),
        sa.CheckConstraint(
            "maintenance_sessions = 0 OR maintenance_interval_days >= interval_days",
            name="maintenance_interval",
        ),
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
    #: The least number of days between two sessions of a cycle (booking enforces it).
    min_gap_days: Mapped[int] = mapped_column(default=_default_min_gap)
    session_minutes: Mapped[int]
    numbing_cream_advised: Mapped[bool]
    maintenance_sessions: Mapped[int] = mapped_column(server_default="0", default=0)
    maintenance_interval_days: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(Instant, server_default=sa.func.now())
    created_by: Mapped[str | None] = mapped_column(Text, default=None)
    #: A retired version starts no new plan; plans already on it keep it.
    retired_at: Mapped[datetime | None] = mapped_column(Instant, default=None)

    def cadence(self) -> Cadence:
        return Cadence.of(self)


class Plan(Base):
    __tablename__ = "plan"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('draft', 'active', 'paused', 'completed', 'cancelled')", name="status"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    patient_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("patient.id"), index=True)
    protocol_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("protocol.id"))
    areas: Mapped[list[str]] = mapped_column(TextList)
    start_date: Mapped[date]
    preferred_practitioner_id: Mapped[uuid.UUID | None]
    status: Mapped[str] = mapped_column(Text, index=True)
    time_zone: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Instant)
    activated_at: Mapped[datetime | None] = mapped_column(Instant)
    paused_at: Mapped[datetime | None] = mapped_column(Instant, default=None)
    ended_at: Mapped[datetime | None] = mapped_column(Instant, default=None)
    cancel_reason: Mapped[str | None] = mapped_column(Text, default=None)
    # The staff acknowledgement of the patient's allergies and medications: who, when,
    # what they saw, and a fingerprint of the record it holds for.
    safety_acknowledged_by: Mapped[str | None] = mapped_column(Text, default=None)
    safety_acknowledged_at: Mapped[datetime | None] = mapped_column(Instant, default=None)
    acknowledged_allergies: Mapped[list[str] | None] = mapped_column(TextList, default=None)
    acknowledged_medications: Mapped[list[str] | None] = mapped_column(TextList, default=None)
    acknowledged_safety: Mapped[str | None] = mapped_column(Text, default=None)

    protocol: Mapped[Protocol] = relationship(lazy="joined", innerjoin=True)
    patient: Mapped[Patient] = relationship(lazy="joined", innerjoin=True)
    sessions: Mapped[list[PlanSession]] = relationship(
        order_by="PlanSession.session_number", lazy="selectin", cascade="all, delete-orphan"
    )


class PlanSession(Base):
    __tablename__ = "plan_session"
    __table_args__ = (
        sa.CheckConstraint("earliest_date <= target_date", name="target_in_window"),
        sa.CheckConstraint("target_date <= latest_date", name="window_ordered"),
        # The staff worklist: open sessions by the day their window closes.
        sa.Index(
            "ix_plan_session_open_by_latest",
            "latest_date",
            postgresql_where=sa.text("status = 'open'"),
        ),
    )

    plan_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("plan.id"), primary_key=True)
    session_number: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(Text, server_default="cycle", default="cycle")
    target_date: Mapped[date]
    earliest_date: Mapped[date]
    latest_date: Mapped[date]
    status: Mapped[str] = mapped_column(Text)
    #: The appointment booked (or last booked) for this session, as booking last told us.
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    appointment_version: Mapped[int | None] = mapped_column(default=None)
    appointment_starts_at: Mapped[datetime | None] = mapped_column(Instant, default=None)
    completed_on: Mapped[date | None] = mapped_column(default=None)
    missed_count: Mapped[int] = mapped_column(server_default="0", default=0)

    def window(self, total_sessions: int) -> SessionWindow:
        return SessionWindow(
            session_number=self.session_number,
            total_sessions=total_sessions,
            target_date=self.target_date,
            earliest_date=self.earliest_date,
            latest_date=self.latest_date,
            kind=self.kind,
        )

    def move_to(self, window: SessionWindow) -> None:
        self.target_date = window.target_date
        self.earliest_date = window.earliest_date
        self.latest_date = window.latest_date
