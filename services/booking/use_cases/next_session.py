"""Keeping a course moving: in auto mode, once a session is booked (or done), booking
holds the next one for the patient to confirm, so there is always one waiting."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from booking.db import Appointment, BookingRequest
from booking.domain.lifecycle import Action
from booking.domain.request import RequestStatus
from booking.settings import BookingSettings
from booking.use_cases.invitations import invite_or_hold
from booking.use_cases.reservations import Choice, reserve
from booking.use_cases.steps import change
from shared.contracts.booking import AppointmentStatus

#: The steps after which the course's next session is offered.
_ADVANCING = (Action.BOOK, Action.COMPLETE)


async def book(
    session: AsyncSession,
    *,
    choice: Choice,
    settings: BookingSettings,
    now: datetime,
    by: str,
    hold_until: datetime | None = None,
) -> Appointment:
    """Staff book (or hold) a session; a booking offers the next session in auto mode."""
    appointment = await reserve(
        session, choice=choice, settings=settings, now=now, by=by, hold_until=hold_until
    )
    if appointment.status == AppointmentStatus.BOOKED:
        await hold_next_session(session, after=appointment, settings=settings, now=now)
    return appointment


async def take_step(
    session: AsyncSession,
    *,
    appointment_id: uuid.UUID,
    action: Action,
    settings: BookingSettings,
    now: datetime,
    by: str,
    reason: str | None = None,
    expected_version: int | None = None,
    patient_id: uuid.UUID | None = None,
) -> Appointment:
    """One step of an appointment's life (see :func:`steps.change`); booking a
    hold or completing a session then offers the next session in auto mode."""
    appointment = await change(
        session,
        appointment_id=appointment_id,
        action=action,
        now=now,
        by=by,
        reason=reason,
        expected_version=expected_version,
        patient_id=patient_id,
    )
    if action in _ADVANCING:
        await hold_next_session(session, after=appointment, settings=settings, now=now)
    return appointment


async def hold_next_session(
    session: AsyncSession, *, after: Appointment, settings: BookingSettings, now: datetime
) -> None:
    """Auto mode: hold the course's next open session after ``after`` (its practitioner
    and a similar time of day where possible) and text the link to confirm it; a link to
    book it when nothing fits. Nothing when a session of the plan is already held."""
    if settings.booking_mode != "auto" or after.booking_request_id is None:
        return
    current = await session.get(BookingRequest, after.booking_request_id)
    if current is None:
        return
    plan_requests = list(
        await session.scalars(
            sa.select(BookingRequest)
            .where(BookingRequest.plan_id == current.plan_id)
            .order_by(BookingRequest.session_number)
        )
    )
    if any(r.status == RequestStatus.HELD for r in plan_requests):
        return
    following = [
        r
        for r in plan_requests
        if r.session_number > current.session_number and r.status == RequestStatus.OPEN
    ]
    if following:
        await invite_or_hold(session, request=following[0], settings=settings, now=now)
