"""Moving a session: a new time for the same appointment, checked against its course."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from booking.db import ACTIVE_STATUSES, Appointment, BookingRequest, Location
from booking.domain.appointments import local_date
from booking.domain.course import CourseDoesNotFit, Placement, Shift, move_session
from booking.domain.lifecycle import Action, InvalidTransition, Status, next_status
from booking.settings import BookingSettings
from booking.use_cases.records import announce, get_or_404
from booking.use_cases.reservations import Choice, check_choice, claim_time, window_of
from booking.use_cases.steps import hours, locked_appointment
from shared.contracts.booking import AppointmentRescheduled
from shared.problems import Conflict, Unprocessable


@dataclass(frozen=True)
class Move:
    """The new time (and optionally practitioner and room) of an appointment."""

    appointment_id: uuid.UUID
    starts_at: datetime
    practitioner_id: uuid.UUID | None = None
    room_id: uuid.UUID | None = None
    expected_version: int | None = None


async def reschedule(
    session: AsyncSession,
    *,
    move: Move,
    settings: BookingSettings,
    now: datetime,
    by: str,
    patient_id: uuid.UUID | None = None,
) -> tuple[Appointment, list[Shift]]:
    """Move an appointment (same appointment, version bumped), checking the new time is
    inside the session's window, far enough from the previous booked session, and free.

    Returns the later booked sessions of the course that the move now pushes (they stay
    where they are until staff or the patient move them too). A patient (``patient_id``)
    may not move a session within the clinic's cut-off before it.
    """
    appointment = await locked_appointment(session, move.appointment_id, patient_id)
    if move.expected_version is not None and appointment.version != move.expected_version:
        raise Conflict(
            f"the appointment is at version {appointment.version}, not {move.expected_version}",
            version=appointment.version,
        )
    try:
        status = next_status(Status(appointment.status), Action.RESCHEDULE)
    except InvalidTransition as error:
        raise Conflict(str(error), current_status=appointment.status) from None
    cutoff = timedelta(hours=settings.patient_change_cutoff_hours)
    if patient_id is not None and appointment.starts_at - now < cutoff:
        raise Conflict(
            f"an appointment cannot be moved online less than {hours(cutoff)} before it; "
            "please call the clinic"
        )
    if appointment.booking_request_id is None:
        raise Unprocessable("only a session of a cycle can be moved here")
    request = await get_or_404(session, BookingRequest, appointment.booking_request_id, "request")
    choice = Choice(
        booking_request_id=request.id,
        practitioner_id=move.practitioner_id or appointment.practitioner_id,
        room_id=move.room_id or appointment.room_id,
        starts_at=move.starts_at,
    )
    times, location_id = await check_choice(
        session, request, choice, settings, now, patient=patient_id
    )
    location = await get_or_404(session, Location, location_id, "location")
    shifts = await _course_check(session, request, move, location.time_zone)
    statement = (
        sa.update(Appointment)
        .where(Appointment.id == appointment.id)
        .values(
            status=status,
            version=appointment.version + 1,
            practitioner_id=choice.practitioner_id,
            room_id=choice.room_id,
            location_id=location_id,
            starts_at=times.starts_at,
            ends_at=times.ends_at,
            blocked_from=times.blocked_from,
            blocked_until=times.blocked_until,
            updated_at=now,
            changed_by=by,
            reason=None,
        )
        .returning(Appointment)
    )
    appointment = await claim_time(session, choice, times, now, statement)
    await announce(session, appointment, AppointmentRescheduled, now=now)
    return appointment, shifts


async def _course_check(
    session: AsyncSession, request: BookingRequest, move: Move, time_zone: str
) -> list[Shift]:
    """The move against the plan's other booked sessions: interval rule and shifts."""
    rows = (
        await session.execute(
            sa.select(BookingRequest, Appointment)
            .join(Appointment, Appointment.booking_request_id == BookingRequest.id)
            .where(
                BookingRequest.plan_id == request.plan_id,
                Appointment.status.in_(ACTIVE_STATUSES),
                Appointment.id != move.appointment_id,
            )
        )
    ).all()
    windows = [window_of(r) for r, _ in rows] + [window_of(request)]
    booked = [Placement(r.session_number, local_date(a.starts_at, time_zone)) for r, a in rows]
    moved = Placement(request.session_number, local_date(move.starts_at, time_zone))
    try:
        return move_session(windows, booked, moved)
    except CourseDoesNotFit as error:
        raise Unprocessable(str(error)) from None
