"""What the staff reports read: booking's own tables and its read model of notify's and
plans' events (never another service's database), as the facts domain.reports counts.

Each query is about one location and the span of a period there (its midnights, UTC).
What has no location of its own is given one (docs/reports.md, "Which location"):

- a session, a window or a plan: the location of its course's latest appointment, else
  of the practitioner the plan prefers, else the clinic's only location if it has one;
- a message: its appointment's location, else its offer's, else the location of the
  patient's latest appointment, else the clinic's only location if it has one.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute, aliased

from booking.adapters.db import (
    Appointment,
    BookingRequest,
    Location,
    Practitioner,
    ReportMessage,
    ReportPlanOutcome,
    ReportReply,
    Room,
    SlotOffer,
)
from booking.domain.availability import Interval, local_date
from booking.domain.errors import Unknown
from booking.domain.reports import (
    MessageFact,
    OfferFact,
    PlanOutcome,
    Reply,
    SessionOutcome,
    Visit,
)
from booking.domain.request import RequestStatus
from booking.use_cases.steps import HOLD_EXPIRED
from shared.contracts.booking import AppointmentStatus, OfferStatus
from shared.contracts.notify import MessageKind, MessageStatus

#: Appointments whose time was booked (the session's, buffers left out), for utilisation.
BOOKED = (
    AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED, AppointmentStatus.CHECKED_IN,
    AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW,
)  # fmt: skip
#: An indication booking never heard of (a plan's outcome without any of its sessions).
UNKNOWN_INDICATION = "unknown"


@dataclass(frozen=True)
class Place:
    """The location a report is about."""

    id: uuid.UUID
    name: str
    time_zone: str


@dataclass(frozen=True)
class ResourceLine:
    """A practitioner or a room of the location, by name."""

    id: uuid.UUID
    name: str


async def place(session: AsyncSession, location_id: uuid.UUID) -> Place:
    """The location, or 404."""
    found = await session.get(Location, location_id)
    if found is None:
        raise Unknown(f"no location {location_id}")
    return Place(found.id, found.name, found.time_zone)


def _only_location() -> sa.ScalarSelect[uuid.UUID]:
    """The clinic's location when it has just one (else NULL)."""
    count = sa.select(sa.func.count()).select_from(Location).scalar_subquery()
    return sa.select(Location.id).where(count == 1).limit(1).scalar_subquery()


def plan_location(plan_id: QueryableAttribute[uuid.UUID]) -> sa.ColumnElement[uuid.UUID]:
    """Where a plan is treated: its latest appointment's location, else its preferred
    practitioner's, else the clinic's only location."""
    request, visit = aliased(BookingRequest), aliased(Appointment)
    latest = (
        sa.select(visit.location_id)
        .join(request, request.id == visit.booking_request_id)
        .where(request.plan_id == plan_id)
        .order_by(visit.starts_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    preferring, doctor = aliased(BookingRequest), aliased(Practitioner)
    preferred = (
        sa.select(doctor.location_id)
        .join(preferring, preferring.preferred_practitioner_id == doctor.id)
        .where(preferring.plan_id == plan_id)
        .limit(1)
        .scalar_subquery()
    )
    return sa.func.coalesce(latest, preferred, _only_location())


def plan_indication(plan_id: QueryableAttribute[uuid.UUID]) -> sa.ColumnElement[str]:
    request = aliased(BookingRequest)
    known = sa.select(request.indication).where(request.plan_id == plan_id).limit(1)
    return sa.func.coalesce(known.scalar_subquery(), UNKNOWN_INDICATION)


def message_location() -> sa.ColumnElement[uuid.UUID]:
    """Where a message belongs (see the module's docstring)."""
    own, theirs = aliased(Appointment), aliased(Appointment)
    of_appointment = (
        sa.select(own.location_id).where(own.id == ReportMessage.appointment_id).scalar_subquery()
    )
    of_offer = (
        sa.select(SlotOffer.location_id)
        .where(SlotOffer.id == ReportMessage.offer_id)
        .scalar_subquery()
    )
    of_patient = (
        sa.select(theirs.location_id)
        .where(theirs.patient_id == ReportMessage.patient_id)
        .order_by(theirs.starts_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    return sa.func.coalesce(of_appointment, of_offer, of_patient, _only_location())


def _within(column: QueryableAttribute[datetime], span: Interval) -> sa.ColumnElement[bool]:
    return sa.and_(column >= span.start, column < span.end)


# Course adherence.


async def session_outcomes(
    session: AsyncSession, where: Place, span: Interval
) -> list[SessionOutcome]:
    """Course sessions at the location that started in the span and were completed or
    missed (no-show), with their windows."""
    rows = await session.execute(
        sa.select(
            Appointment.status,
            Appointment.starts_at,
            BookingRequest.indication,
            BookingRequest.earliest_date,
            BookingRequest.latest_date,
        )
        .join(BookingRequest, BookingRequest.id == Appointment.booking_request_id)
        .where(
            Appointment.location_id == where.id,
            Appointment.status.in_([AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW]),
            _within(Appointment.starts_at, span),
        )
    )
    return [
        SessionOutcome(
            indication=row.indication, status=AppointmentStatus(row.status),
            day=local_date(row.starts_at, where.time_zone), earliest=row.earliest_date,
            latest=row.latest_date,
        )
        for row in rows
    ]  # fmt: skip


async def open_windows_ending(
    session: AsyncSession, where: Place, first: date, last: date
) -> list[tuple[str, date]]:
    """Sessions of the location's courses still open (never booked, or booked and lost)
    whose window's last day is between ``first`` and ``last``: indication and that day."""
    rows = await session.execute(
        sa.select(BookingRequest.indication, BookingRequest.latest_date).where(
            BookingRequest.status == RequestStatus.OPEN,
            BookingRequest.latest_date.between(first, last),
            plan_location(BookingRequest.plan_id) == where.id,
        )
    )
    return [(indication, latest) for indication, latest in rows]


async def plan_outcomes(
    session: AsyncSession, where: Place, span: Interval
) -> list[tuple[str, PlanOutcome]]:
    """How the location's plans that ended in the span ended, with their indication."""
    rows = await session.execute(
        sa.select(plan_indication(ReportPlanOutcome.plan_id), ReportPlanOutcome.outcome).where(
            _within(ReportPlanOutcome.decided_at, span),
            plan_location(ReportPlanOutcome.plan_id) == where.id,
        )
    )
    return [(indication, PlanOutcome(outcome)) for indication, outcome in rows]


# No-shows and late cancellations.


async def visits(session: AsyncSession, where: Place, span: Interval) -> list[Visit]:
    """Appointments at the location starting in the span that were booked: neither held
    now nor a hold that ran out."""
    rows = await session.execute(
        sa.select(Appointment.status, Appointment.starts_at, Appointment.updated_at).where(
            Appointment.location_id == where.id,
            _within(Appointment.starts_at, span),
            Appointment.status != AppointmentStatus.HELD,
            sa.or_(
                Appointment.status != AppointmentStatus.CANCELLED,
                Appointment.reason.is_distinct_from(HOLD_EXPIRED),
            ),
        )
    )
    return [
        Visit(
            AppointmentStatus(row.status), row.starts_at,
            row.updated_at if row.status == AppointmentStatus.CANCELLED else None,
        )
        for row in rows
    ]  # fmt: skip


# Utilisation.


async def practitioners(session: AsyncSession, where: Place) -> list[ResourceLine]:
    rows = await session.execute(
        sa.select(Practitioner.id, Practitioner.full_name)
        .where(Practitioner.location_id == where.id)
        .order_by(Practitioner.full_name, Practitioner.id)
    )
    return [ResourceLine(id_, name) for id_, name in rows]


async def rooms(session: AsyncSession, where: Place) -> list[ResourceLine]:
    rows = await session.execute(
        sa.select(Room.id, Room.name)
        .where(Room.location_id == where.id)
        .order_by(Room.name, Room.id)
    )
    return [ResourceLine(id_, name) for id_, name in rows]


async def booked_time(
    session: AsyncSession, where: Place, span: Interval
) -> dict[uuid.UUID, list[Interval]]:
    """Per practitioner and per room, the sessions booked at the location that meet the
    span (held, cancelled and run-out holds left out)."""
    rows = await session.execute(
        sa.select(
            Appointment.practitioner_id, Appointment.room_id, Appointment.starts_at,
            Appointment.ends_at,
        ).where(
            Appointment.location_id == where.id,
            Appointment.status.in_(BOOKED),
            Appointment.starts_at < span.end,
            Appointment.ends_at > span.start,
        )
    )  # fmt: skip
    booked: dict[uuid.UUID, list[Interval]] = {}
    for row in rows:
        spent = Interval(row.starts_at, row.ends_at)
        booked.setdefault(row.practitioner_id, []).append(spent)
        booked.setdefault(row.room_id, []).append(spent)
    return booked


# SMS.


def _message_fact(row: Any) -> MessageFact:
    return MessageFact(
        row.message_id, MessageKind(row.kind), MessageStatus(row.status), row.appointment_id,
        row.first_at,
    )  # fmt: skip


_MESSAGE_COLUMNS = (
    ReportMessage.message_id, ReportMessage.kind, ReportMessage.status,
    ReportMessage.appointment_id, ReportMessage.first_at,
)  # fmt: skip


async def messages(session: AsyncSession, where: Place, span: Interval) -> list[MessageFact]:
    """The location's messages first reported in the span, each at its latest status."""
    rows = await session.execute(
        sa.select(*_MESSAGE_COLUMNS).where(
            _within(ReportMessage.first_at, span), message_location() == where.id
        )
    )
    return [_message_fact(row) for row in rows]


async def confirmations_of(
    session: AsyncSession, appointment_ids: Collection[uuid.UUID]
) -> list[MessageFact]:
    """Every confirmation message of these appointments, whenever it was sent."""
    if not appointment_ids:
        return []
    rows = await session.execute(
        sa.select(*_MESSAGE_COLUMNS).where(
            ReportMessage.kind == MessageKind.CONFIRMATION,
            ReportMessage.appointment_id.in_(appointment_ids),
        )
    )
    return [_message_fact(row) for row in rows]


async def replies_to(session: AsyncSession, appointment_ids: Collection[uuid.UUID]) -> list[Reply]:
    """Every "C" received about these appointments."""
    if not appointment_ids:
        return []
    rows = await session.execute(
        sa.select(ReportReply.appointment_id, ReportReply.received_at).where(
            ReportReply.appointment_id.in_(appointment_ids)
        )
    )
    return [Reply(appointment_id, received_at) for appointment_id, received_at in rows]


# Earlier-slot offers.


async def offers(session: AsyncSession, where: Place, span: Interval) -> list[OfferFact]:
    """Offers of time freed at the location that starts in the span."""
    rows = await session.execute(
        sa.select(SlotOffer.freed_by, SlotOffer.status).where(
            SlotOffer.location_id == where.id, _within(SlotOffer.freed_from, span)
        )
    )
    return [OfferFact(freed_by, OfferStatus(status)) for freed_by, status in rows]


def ids(resources: Sequence[ResourceLine]) -> list[uuid.UUID]:
    return [resource.id for resource in resources]
