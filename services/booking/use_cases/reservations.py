"""Holding and booking a slot, and every later step of an appointment's life.

PostgreSQL is the arbiter of double booking: the insert (or the move) runs in a
savepoint, and an exclusion-constraint violation becomes a 409 naming what is taken,
unless what it collided with is a hold whose time ran out: that hold is expired
(with its event) and the insert tried once more.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from booking.adapters.db import Appointment, BookingRequest
from booking.domain.appointments import Slot, local_date, slot
from booking.domain.availability import Interval
from booking.domain.errors import StateConflict, Unknown, UnsuitableChoice
from booking.domain.events import AppointmentMade, record
from booking.domain.lifecycle import Action
from booking.settings import BookingSettings
from booking.use_cases import hot_path, resource_cache, spacing
from booking.use_cases.availability import load_clinic, session_fits_hours
from booking.use_cases.bus import UnitOfWork
from booking.use_cases.steps import HOLD_EXPIRED
from shared.contracts.booking import ACTIVE, AppointmentStatus


@dataclass(frozen=True)
class Choice:
    """Who, where and when a session is to be booked."""

    booking_request_id: uuid.UUID
    practitioner_id: uuid.UUID
    room_id: uuid.UUID
    starts_at: datetime


async def reserve(
    uow: UnitOfWork,
    *,
    choice: Choice,
    by: str,
    hold_until: datetime | None = None,
    patient_id: uuid.UUID | None = None,
) -> Appointment:
    """Hold (``hold_until`` given) or book one session of a booking request, recorded for
    the unit of work (the caller commits).

    The request must be open (and the patient's own when ``patient_id`` is given); the
    practitioner must treat its indication at the room's location, the time be inside the
    session's window, far enough from the course's other active sessions (the course's
    requests are locked first) and inside the resources' hours; PostgreSQL refuses a
    taken time.
    """
    session, settings, now = uow.session, uow.settings, uow.now
    request = await spacing.lock_course(session, choice.booking_request_id)
    if request is None or (patient_id is not None and request.patient_id != patient_id):
        raise Unknown(f"no booking request {choice.booking_request_id}")
    request_status = request.take(hold=hold_until is not None)
    times = await check_choice(session, request, choice, settings, now, patient=patient_id)
    values = {
        "id": uuid.uuid4(),
        "version": 1,
        "status": AppointmentStatus.HELD if hold_until else AppointmentStatus.BOOKED,
        "patient_id": request.patient_id,
        "booking_request_id": request.id,
        "practitioner_id": choice.practitioner_id,
        "room_id": choice.room_id,
        "location_id": times[1],
        "starts_at": times[0].starts_at,
        "ends_at": times[0].ends_at,
        "blocked_from": times[0].blocked_from,
        "blocked_until": times[0].blocked_until,
        "created_at": now,
        "updated_at": now,
        "hold_expires_at": hold_until,
        "changed_by": by,
    }
    appointment = await _insert(uow, choice, times[0], values)
    record(appointment, AppointmentMade(appointment, request, request_status))
    return uow.add(appointment)


async def book_session(
    uow: UnitOfWork,
    *,
    choice: Choice,
    by: str,
    hold_until: datetime | None = None,
    patient_id: uuid.UUID | None = None,
) -> Appointment:
    """:func:`reserve` one session, and commit: the reactions announce it (and, in auto
    mode, a booking holds the course's next session)."""
    appointment = await reserve(
        uow, choice=choice, by=by, hold_until=hold_until, patient_id=patient_id
    )
    await uow.commit()
    return appointment


async def check_choice(
    session: AsyncSession,
    request: BookingRequest,
    choice: Choice,
    settings: BookingSettings,
    now: datetime,
    *,
    patient: uuid.UUID | None,
) -> tuple[Slot, uuid.UUID]:
    """The slot a choice would take, and its location, or the 4xx saying why not (a
    session too close to another of its course: the 409 naming it; the caller has locked
    the course, see ``spacing.lock_course``)."""
    practitioner = await resource_cache.practitioner(session, choice.practitioner_id)
    room = await resource_cache.room(session, choice.room_id)
    location = await resource_cache.location(session, practitioner.location_id)
    if room.location_id != location.id:
        raise UnsuitableChoice("the room is not at the practitioner's location")
    if request.indication not in practitioner.indications:
        raise UnsuitableChoice(f"{practitioner.full_name} does not treat {request.indication}")
    if choice.starts_at <= now:
        raise UnsuitableChoice("the appointment would start in the past")
    if patient is not None:
        if choice.starts_at < now + timedelta(hours=settings.minimum_notice_hours):
            raise UnsuitableChoice(
                f"sessions are booked at least {settings.minimum_notice_hours} h ahead"
            )
        if choice.starts_at > now + timedelta(days=settings.horizon_days):
            raise UnsuitableChoice(
                f"sessions are booked at most {settings.horizon_days} days ahead"
            )
    course = await spacing.load_course(session, request.plan_id)
    course.check_place(request.session_number, local_date(choice.starts_at, location.time_zone))
    times = slot(
        starts_at=choice.starts_at,
        minutes=request.session_minutes,
        buffer_before=settings.buffer_before,
        buffer_after=settings.buffer_after,
    )
    span = Interval(times.starts_at, times.ends_at)
    clinic = await load_clinic(
        session,
        location=location,
        practitioner_ids=[practitioner.id],
        room_ids=[room.id],
        span=Interval(times.blocked_from, times.blocked_until),
        with_taken=False,  # PostgreSQL's exclusion constraints judge what is taken
    )
    why_not = session_fits_hours(clinic, practitioner.id, room.id, span)
    if why_not:
        raise UnsuitableChoice(why_not)
    return times, location.id


async def claim_time(
    uow: UnitOfWork, choice: Choice, times: Slot, statement: sa.Executable
) -> Appointment:
    """Run the insert or update that takes ``times``; PostgreSQL says if it is taken.

    The practitioner's and the room's advisory locks are taken first, in a fixed order:
    two constraints over two columns would otherwise let two bookings each wait for the
    other's uncommitted row (a deadlock PostgreSQL breaks by failing one of them).
    """
    session = uow.session
    first, second = sorted((str(choice.practitioner_id), str(choice.room_id)))
    await session.execute(
        sa.select(
            sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(first, 0)),
            sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(second, 0)),
        )
    )
    for attempt in (1, 2):
        try:
            async with session.begin_nested():
                result = await session.scalars(
                    statement, execution_options={"populate_existing": True}
                )
                appointment: Appointment = result.one()
                return appointment
        except DBAPIError as error:
            if _is_deadlock(error):
                # A course booking locks several resources; a rare cycle is still a clash.
                raise StateConflict(
                    "another booking took these resources at the same moment; try again",
                    conflict="concurrent",
                ) from None
            if not isinstance(error, IntegrityError):
                raise
            conflict = _double_booking(error)
            if conflict is None:
                raise
            if attempt == 2 or not await _expire_colliding_holds(uow, choice, times):
                raise conflict from None
    raise AssertionError("unreachable")


async def _insert(
    uow: UnitOfWork, choice: Choice, times: Slot, values: dict[str, Any]
) -> Appointment:
    """Insert the appointment (see hot_path.INSERT_APPOINTMENT); only when PostgreSQL refused it is
    the collision looked at: a run-out hold in the way is expired and the insert tried
    once more, anything else is the 409 naming what is taken."""
    first, second = sorted((str(choice.practitioner_id), str(choice.room_id)))
    for attempt in (1, 2):
        try:
            if await hot_path.insert_appointment(uow.session, (first, second), values):
                return Appointment(**values)
        except asyncpg.DeadlockDetectedError:
            raise StateConflict(
                "another booking took these resources at the same moment; try again",
                conflict="concurrent",
            ) from None
        if attempt == 1 and await _expire_colliding_holds(uow, choice, times):
            continue
        raise await _what_is_taken(uow.session, choice, times)
    raise AssertionError("unreachable")


async def _what_is_taken(session: AsyncSession, choice: Choice, times: Slot) -> StateConflict:
    """The 409 naming what the refused insert collided with."""
    overlapping = sa.and_(
        Appointment.status.in_(ACTIVE),
        Appointment.blocked_from < times.blocked_until,
        Appointment.blocked_until > times.blocked_from,
    )
    rows = await session.execute(
        sa.select(Appointment.practitioner_id, Appointment.room_id).where(
            overlapping,
            sa.or_(
                Appointment.practitioner_id == choice.practitioner_id,
                Appointment.room_id == choice.room_id,
            ),
        )
    )
    taken = {"practitioner" if p == choice.practitioner_id else "room" for p, _ in rows}
    if "practitioner" in taken:
        return StateConflict(
            "the practitioner is already booked at that time", conflict="practitioner"
        )
    if "room" in taken:
        return StateConflict("the room is already booked at that time", conflict="room")
    return StateConflict("this session already has an appointment", conflict="booking_request")


async def _expire_colliding_holds(uow: UnitOfWork, choice: Choice, times: Slot) -> bool:
    """Expire the run-out holds on this practitioner or room at this time; any found?"""
    now = uow.now
    colliding = await uow.session.scalars(
        sa.select(Appointment)
        .where(
            Appointment.status == AppointmentStatus.HELD,
            Appointment.hold_expires_at <= now,
            sa.or_(
                Appointment.practitioner_id == choice.practitioner_id,
                Appointment.room_id == choice.room_id,
            ),
            Appointment.blocked_from < times.blocked_until,
            Appointment.blocked_until > times.blocked_from,
        )
        .with_for_update(skip_locked=True)
    )
    found = False
    for hold in colliding:
        uow.add(hold).take_step(Action.EXPIRE, now=now, by="system", reason=HOLD_EXPIRED)
        found = True
    return found


def _is_deadlock(error: DBAPIError) -> bool:
    return getattr(error.orig, "sqlstate", None) == "40P01" or "deadlock detected" in str(error)


def _double_booking(error: IntegrityError) -> StateConflict | None:
    """The 409 for a violated no-double-booking constraint, naming what is taken."""
    name = str(error.orig)
    if "no_double_booking_practitioner" in name:
        return StateConflict(
            "the practitioner is already booked at that time", conflict="practitioner"
        )
    if "no_double_booking_room" in name:
        return StateConflict("the room is already booked at that time", conflict="room")
    if "uq_appointment_active_booking_request" in name:
        return StateConflict("this session already has an appointment", conflict="booking_request")
    return None
