"""Every step of an appointment's life after it is made: book a hold, confirm, check in,
complete, mark no-show, cancel, expire. The appointment checks and records it; the
reactions (booking.use_cases.reactions) announce it and keep its request in step."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa

from booking.adapters.db import Appointment
from booking.domain.lifecycle import Action
from booking.use_cases.bus import UnitOfWork
from shared.contracts.booking import AppointmentStatus

HOLD_EXPIRED = "hold expired"


async def take_step(
    uow: UnitOfWork,
    *,
    appointment_id: uuid.UUID,
    action: Action,
    by: str,
    reason: str | None = None,
    expected_version: int | None = None,
    patient_id: uuid.UUID | None = None,
    cutoff: timedelta | None = None,
) -> Appointment:
    """Move an appointment one step of its life; refused (StateConflict) with the reason
    when the step does not apply.

    ``patient_id`` scopes the change to that patient's own appointment; ``cutoff`` refuses
    a cancellation that close to the session (the clinic's rule for patients).
    """
    appointment = await uow.appointment(appointment_id, patient_id=patient_id)
    appointment.check_version(expected_version)
    if cutoff is not None and action is Action.CANCEL:
        appointment.check_not_too_late(cutoff, now=uow.now, change="cancelled")
    appointment.take_step(action, now=uow.now, by=by, reason=reason)
    await uow.commit()
    return appointment


async def expire_holds(uow: UnitOfWork, *, limit: int = 100) -> int:
    """The sweeper: cancel holds whose time ran out (``reason`` "hold expired")."""
    holds = await uow.session.scalars(
        sa.select(Appointment)
        .where(Appointment.status == AppointmentStatus.HELD, Appointment.hold_expires_at <= uow.now)
        .order_by(Appointment.hold_expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    count = 0
    for hold in holds:
        uow.add(hold).take_step(Action.EXPIRE, now=uow.now, by="system", reason=HOLD_EXPIRED)
        count += 1
    await uow.commit()
    return count
