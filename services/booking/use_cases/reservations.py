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

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from booking.db import Appointment, BookingRequest, Location, Practitioner, Room
from booking.domain.appointments import Slot, local_date, slot
from booking.domain.availability import Interval
from booking.domain.course import CourseDoesNotFit, Window, check_window
from booking.domain.lifecycle import Action, InvalidTransition, Status, check_timing, next_status
from booking.settings import BookingSettings
from booking.use_cases.availability import load_clinic, session_fits_hours
from booking.use_cases.records import EVENT_OF, announce, get_or_404
from shared.contracts.booking import AppointmentBooked, AppointmentHeld
from shared.problems import Conflict, Problem, Unprocessable

HOLD_EXPIRED = "hold expired"


@dataclass(frozen=True)
class Choice:
    """Who, where and when a session is to be booked."""

    booking_request_id: uuid.UUID
    practitioner_id: uuid.UUID
    room_id: uuid.UUID
    starts_at: datetime


def window_of(request: BookingRequest) -> Window:
    return Window(
        request.session_number, request.target_date, request.earliest_date, request.latest_date
    )


async def reserve(
    session: AsyncSession,
    *,
    choice: Choice,
    settings: BookingSettings,
    now: datetime,
    by: str,
    hold_until: datetime | None = None,
    patient_id: uuid.UUID | None = None,
) -> Appointment:
    """Hold (``hold_until`` given) or book one session of a booking request.

    Checks the request is open (and the patient's own when ``patient_id`` is given), the
    practitioner treats its indication at the room's location, the time is inside the
    session's window and the resources' hours; PostgreSQL refuses a taken time.
    """
    request = await get_or_404(
        session, BookingRequest, choice.booking_request_id, "booking request", lock=True
    )
    if patient_id is not None and request.patient_id != patient_id:
        raise Problem(404, "Not found", f"no booking request {choice.booking_request_id}")
    if request.status != "open":
        raise Conflict(f"booking request is {request.status}, not open")
    times = await check_choice(session, request, choice, settings, now, patient=patient_id)
    values = {
        "id": uuid.uuid4(),
        "version": 1,
        "status": Status.HELD if hold_until else Status.BOOKED,
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
    statement = insert(Appointment).values(values).returning(Appointment)
    appointment = await claim_time(session, choice, times[0], now, statement)
    request.status = "held" if hold_until else "booked"
    await announce(
        session, appointment, AppointmentHeld if hold_until else AppointmentBooked, now=now
    )
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
    """The slot a choice would take, and its location, or the 4xx saying why not."""
    practitioner = await get_or_404(session, Practitioner, choice.practitioner_id, "practitioner")
    room = await get_or_404(session, Room, choice.room_id, "room")
    location = await get_or_404(session, Location, practitioner.location_id, "location")
    if room.location_id != location.id:
        raise Unprocessable("the room is not at the practitioner's location")
    if request.indication not in practitioner.indications:
        raise Unprocessable(f"{practitioner.full_name} does not treat {request.indication}")
    if choice.starts_at <= now:
        raise Unprocessable("the appointment would start in the past")
    if patient is not None:
        if choice.starts_at < now + timedelta(hours=settings.minimum_notice_hours):
            raise Unprocessable(
                f"sessions are booked at least {settings.minimum_notice_hours} h ahead"
            )
        if choice.starts_at > now + timedelta(days=settings.horizon_days):
            raise Unprocessable(f"sessions are booked at most {settings.horizon_days} days ahead")
    try:
        check_window(window_of(request), local_date(choice.starts_at, location.time_zone))
    except CourseDoesNotFit as error:
        raise Unprocessable(str(error)) from None
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
        raise Unprocessable(why_not)
    return times, location.id


async def claim_time(
    session: AsyncSession, choice: Choice, times: Slot, now: datetime, statement: sa.Executable
) -> Appointment:
    """Run the insert or update that takes ``times``; PostgreSQL says if it is taken.

    The practitioner's and the room's advisory locks are taken first, in a fixed order:
    two constraints over two columns would otherwise let two bookings each wait for the
    other's uncommitted row (a deadlock PostgreSQL breaks by failing one of them).
    """
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
                raise Conflict(
                    "another booking took these resources at the same moment; try again",
                    conflict="concurrent",
                ) from None
            if not isinstance(error, IntegrityError):
                raise
            conflict = _double_booking(error)
            if conflict is None:
                raise
            if attempt == 2 or not await _expire_colliding_holds(session, choice, times, now):
                raise conflict from None
    raise AssertionError("unreachable")


async def _expire_colliding_holds(
    session: AsyncSession, choice: Choice, times: Slot, now: datetime
) -> bool:
    """Expire the run-out holds on this practitioner or room at this time; any found?"""
    colliding = await session.scalars(
        sa.select(Appointment)
        .where(
            Appointment.status == Status.HELD,
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
        await _apply(session, hold, Action.EXPIRE, now=now, by="system", reason=HOLD_EXPIRED)
        found = True
    return found


async def change(
    session: AsyncSession,
    *,
    appointment_id: uuid.UUID,
    action: Action,
    now: datetime,
    by: str,
    reason: str | None = None,
    expected_version: int | None = None,
    patient_id: uuid.UUID | None = None,
    cutoff: timedelta | None = None,
) -> Appointment:
    """Move an appointment one step of its life (book a hold, confirm, check in, complete,
    mark no-show, cancel); 409 with the reason when the step does not apply.

    ``patient_id`` scopes the change to that patient's own appointment; ``cutoff`` refuses
    a cancellation that close to the session (the clinic's rule for patients).
    """
    appointment = await locked_appointment(session, appointment_id, patient_id)
    if expected_version is not None and appointment.version != expected_version:
        raise Conflict(
            f"the appointment is at version {appointment.version}, not {expected_version}; "
            "reload it and try again",
            version=appointment.version,
        )
    if (
        action is Action.BOOK
        and appointment.hold_expires_at is not None
        and appointment.hold_expires_at <= now
    ):
        raise Conflict(f"the hold expired at {appointment.hold_expires_at.isoformat()}")
    if cutoff is not None and action is Action.CANCEL and appointment.starts_at - now < cutoff:
        raise Conflict(
            f"an appointment cannot be cancelled online less than {cutoff} before it; "
            "please call the clinic"
        )
    await _apply(session, appointment, action, now=now, by=by, reason=reason)
    return appointment


async def locked_appointment(
    session: AsyncSession, appointment_id: uuid.UUID, patient_id: uuid.UUID | None = None
) -> Appointment:
    appointment = await get_or_404(session, Appointment, appointment_id, "appointment", lock=True)
    if patient_id is not None and appointment.patient_id != patient_id:
        raise Problem(404, "Not found", f"no appointment {appointment_id}")
    return appointment


async def _apply(
    session: AsyncSession,
    appointment: Appointment,
    action: Action,
    *,
    now: datetime,
    by: str,
    reason: str | None = None,
) -> None:
    try:
        status = next_status(Status(appointment.status), action)
        check_timing(action, starts_at=appointment.starts_at, now=now)
    except InvalidTransition as error:
        raise Conflict(str(error), current_status=appointment.status) from None
    appointment.status = status
    appointment.version += 1
    appointment.updated_at = now
    appointment.changed_by = by
    appointment.reason = reason
    if status != Status.HELD:
        appointment.hold_expires_at = None
    await _follow_request(session, appointment, action)
    await announce(session, appointment, EVENT_OF[action], now=now)


async def _follow_request(session: AsyncSession, appointment: Appointment, action: Action) -> None:
    """Keep the session's booking request in step with its appointment."""
    if appointment.booking_request_id is None:
        return
    request = await session.get(BookingRequest, appointment.booking_request_id)
    if request is None or request.status in ("cancelled", "withdrawn"):
        return
    if action is Action.BOOK:
        request.status = "booked"
    elif action in (Action.CANCEL, Action.EXPIRE, Action.MARK_NO_SHOW):
        request.status = "open"
    elif action is Action.COMPLETE:
        request.status = "completed"


async def expire_holds(session: AsyncSession, *, now: datetime, limit: int = 100) -> int:
    """The sweeper: cancel holds whose time ran out (``reason`` "hold expired")."""
    holds = await session.scalars(
        sa.select(Appointment)
        .where(Appointment.status == Status.HELD, Appointment.hold_expires_at <= now)
        .order_by(Appointment.hold_expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    count = 0
    for hold in holds:
        await _apply(session, hold, Action.EXPIRE, now=now, by="system", reason=HOLD_EXPIRED)
        count += 1
    return count


def _is_deadlock(error: DBAPIError) -> bool:
    return getattr(error.orig, "sqlstate", None) == "40P01" or "deadlock detected" in str(error)


def _double_booking(error: IntegrityError) -> Conflict | None:
    """The 409 for a violated no-double-booking constraint, naming what is taken."""
    name = str(error.orig)
    if "no_double_booking_practitioner" in name:
        return Conflict("the practitioner is already booked at that time", conflict="practitioner")
    if "no_double_booking_room" in name:
        return Conflict("the room is already booked at that time", conflict="room")
    if "uq_appointment_active_booking_request" in name:
        return Conflict("this session already has an appointment", conflict="booking_request")
    return None
