"""Every step of an appointment's life after it is made: book a hold, confirm, check in,
complete, mark no-show, cancel, expire; each bumps the version and stages its event."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from booking.db import Appointment, BookingRequest
from booking.domain.lifecycle import Action, InvalidTransition, check_timing, next_status
from booking.domain.request import RequestStatus
from booking.use_cases.records import EVENT_OF, announce, get_or_404
from shared.contracts.booking import AppointmentStatus
from shared.problems import Conflict, Problem

HOLD_EXPIRED = "hold expired"


def hours(span: timedelta) -> str:
    """A span as people say it: "24 h", "90 min"."""
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"


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
            f"an appointment cannot be cancelled online less than {hours(cutoff)} before it; "
            "please call the clinic"
        )
    await apply_step(session, appointment, action, now=now, by=by, reason=reason)
    return appointment


async def locked_appointment(
    session: AsyncSession, appointment_id: uuid.UUID, patient_id: uuid.UUID | None = None
) -> Appointment:
    appointment = await get_or_404(session, Appointment, appointment_id, "appointment", lock=True)
    if patient_id is not None and appointment.patient_id != patient_id:
        raise Problem(404, "Not found", f"no appointment {appointment_id}")
    return appointment


async def apply_step(
    session: AsyncSession,
    appointment: Appointment,
    action: Action,
    *,
    now: datetime,
    by: str,
    reason: str | None = None,
) -> None:
    try:
        status = next_status(AppointmentStatus(appointment.status), action)
        check_timing(action, starts_at=appointment.starts_at, now=now)
    except InvalidTransition as error:
        raise Conflict(str(error), current_status=appointment.status) from None
    appointment.status = status
    appointment.version += 1
    appointment.updated_at = now
    appointment.changed_by = by
    appointment.reason = reason
    if status != AppointmentStatus.HELD:
        appointment.hold_expires_at = None
    await _follow_request(session, appointment, action)
    await announce(session, appointment, EVENT_OF[action], now=now)


async def _follow_request(session: AsyncSession, appointment: Appointment, action: Action) -> None:
    """Keep the session's booking request in step with its appointment."""
    if appointment.booking_request_id is None:
        return
    request = await session.get(BookingRequest, appointment.booking_request_id)
    if request is None or request.status in (RequestStatus.CANCELLED, RequestStatus.WITHDRAWN):
        return
    if action is Action.BOOK:
        request.status = RequestStatus.BOOKED
    elif action in (Action.CANCEL, Action.EXPIRE, Action.MARK_NO_SHOW):
        request.status = RequestStatus.OPEN
    elif action is Action.COMPLETE:
        request.status = RequestStatus.COMPLETED


async def expire_holds(session: AsyncSession, *, now: datetime, limit: int = 100) -> int:
    """The sweeper: cancel holds whose time ran out (``reason`` "hold expired")."""
    holds = await session.scalars(
        sa.select(Appointment)
        .where(Appointment.status == AppointmentStatus.HELD, Appointment.hold_expires_at <= now)
        .order_by(Appointment.hold_expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    count = 0
    for hold in holds:
        await apply_step(session, hold, Action.EXPIRE, now=now, by="system", reason=HOLD_EXPIRED)
        count += 1
    return count
