"""Moving a session: a new time for the same appointment, checked against its course."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from booking.adapters import store
from booking.adapters.db import Appointment
from booking.domain.course import Choice, Shift
from booking.domain.errors import Unknown, UnsuitableChoice
from booking.domain.events import TimeKept
from booking.use_cases.bus import UnitOfWork
from booking.use_cases.reservations import expiry, rules


@dataclass(frozen=True)
class Move:
    """The new time (and optionally practitioner and room) of an appointment."""

    appointment_id: uuid.UUID
    starts_at: datetime
    practitioner_id: uuid.UUID | None = None
    room_id: uuid.UUID | None = None
    expected_version: int | None = None


async def reschedule(
    uow: UnitOfWork, *, move: Move, by: str, patient_id: uuid.UUID | None = None
) -> tuple[Appointment, list[Shift]]:
    """Move an appointment (same appointment, version bumped), checking the new time is
    inside the session's window, far enough from the course's other active sessions
    (before and after it: a 409 naming the one too close) and free.

    Returns the later sessions the move pushes: none since the spacing rule refuses a move
    too close to a later session (the list stays in the answer for its clients). A patient
    (``patient_id``) may not move a session within the clinic's cut-off before it.
    """
    session, settings, now = uow.session, uow.settings, uow.now
    # The course first, then the appointment: the order reservations and plans' events
    # (requests, then appointments) take their locks in, so no two of them deadlock.
    request_id = await session.scalar(
        sa.select(Appointment.booking_request_id).where(Appointment.id == move.appointment_id)
    )
    request = await store.lock_course(session, request_id) if request_id else None
    appointment = await uow.appointment(move.appointment_id, patient_id=patient_id)
    appointment.check_version(move.expected_version)
    status = appointment.check_movable()
    if patient_id is not None:
        cutoff = timedelta(hours=settings.patient_change_cutoff_hours)
        appointment.check_not_too_late(cutoff, now=now, change="moved")
    if appointment.booking_request_id is None:
        raise UnsuitableChoice("only a session of a cycle can be moved here")
    if request is None or request.id != appointment.booking_request_id:
        raise Unknown(f"no request {appointment.booking_request_id}")
    choice = Choice(
        booking_request_id=request.id,
        practitioner_id=move.practitioner_id or appointment.practitioner_id,
        room_id=move.room_id or appointment.room_id,
        starts_at=move.starts_at,
    )
    left = TimeKept.of(appointment)
    located = await store.placing(session, choice)
    if located is None:
        raise Unknown(f"no request {appointment.booking_request_id}")
    placing = located[1]
    times = placing.judge(choice, request, now=now, rules=rules(settings, patient_id))
    statement = (
        sa.update(Appointment)
        .where(Appointment.id == appointment.id)
        .values(
            status=status,
            version=appointment.version + 1,
            practitioner_id=choice.practitioner_id,
            room_id=choice.room_id,
            location_id=placing.location.id,
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
    appointment = await store.claim_time(
        session, statement, practitioner_id=choice.practitioner_id, room_id=choice.room_id,
        times=times, now=now, expire=expiry(uow),
    )  # fmt: skip
    appointment.moved(left)
    await uow.commit()
    return appointment, []
