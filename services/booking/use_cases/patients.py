"""Booking's projection of patients, and what notify tells about messages and replies."""

from __future__ import annotations

import logging
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from booking.adapters.db import Appointment, BookingRequest, Patient, PatientLink
from booking.domain.lifecycle import Action
from booking.use_cases.bus import UnitOfWork
from booking.use_cases.invitations import issue_invitation
from booking.use_cases.steps import take_step
from shared.contracts.booking import AppointmentStatus
from shared.contracts.notify import ConfirmationReceived, MessageStatusChanged, RescheduleRequested
from shared.contracts.plans import PatientContact
from shared.db import upsert

log = logging.getLogger(__name__)


async def keep_patient(session: AsyncSession, *, contact: PatientContact) -> None:
    """Create or refresh booking's copy of a patient."""
    values = {
        "full_name": contact.full_name,
        "time_zone": contact.time_zone,
        "needle_sensitive": contact.needle_sensitive,
    }
    # An erased patient stays erased: a late or redelivered update brings no name back.
    await upsert(
        session,
        Patient,
        key={"id": contact.patient_id},
        values=values,
        where=Patient.erased.is_(False),
    )


async def erase_patient(session: AsyncSession, *, patient_id: uuid.UUID) -> None:
    """Forget who the patient is (the appointments stay, nameless) and revoke their links."""
    await session.execute(
        sa.update(Patient).where(Patient.id == patient_id).values(full_name="", erased=True)
    )
    await session.execute(sa.delete(PatientLink).where(PatientLink.patient_id == patient_id))


async def record_message_status(session: AsyncSession, *, status: MessageStatusChanged) -> None:
    """Show on the schedule where the confirmation and the reminders stand."""
    if status.appointment_id is None:
        return
    column = "confirmation_status" if status.kind == "confirmation" else None
    if status.kind.startswith("reminder"):
        column = "reminder_status"
    if column is None:
        return
    await session.execute(
        sa.update(Appointment)
        .where(Appointment.id == status.appointment_id)
        .values({column: status.status})
    )


async def confirm_by_reply(uow: UnitOfWork, *, reply: ConfirmationReceived) -> None:
    """The patient replied "C": a held slot becomes booked, a booked one confirmed. A reply
    about an older version (the appointment moved since) confirms nothing."""
    appointment = await uow.session.get(Appointment, reply.appointment_id, with_for_update=True)
    if appointment is None or appointment.patient_id != reply.patient_id:
        log.warning("confirmation for an unknown appointment %s", reply.appointment_id)
        return
    if appointment.version != reply.appointment_version:
        log.info("confirmation of an older version of %s ignored", appointment.id)
        return
    action = {AppointmentStatus.HELD: Action.BOOK, AppointmentStatus.BOOKED: Action.CONFIRM}.get(
        AppointmentStatus(appointment.status)
    )
    if action is None:
        return
    # A hold that ran out refuses to be booked (the aggregate's rule): the consumer
    # settles that refusal (booking.adapters.handlers).
    await take_step(uow, appointment_id=appointment.id, action=action, by="patient")


async def invite_to_reschedule(uow: UnitOfWork, *, request_: RescheduleRequested) -> None:
    """The patient replied "R": text them a link to move the appointment themselves."""
    session, settings, now = uow.session, uow.settings, uow.now
    appointment = await session.get(Appointment, request_.appointment_id)
    if appointment is None or appointment.booking_request_id is None:
        return
    request = await session.get(BookingRequest, appointment.booking_request_id)
    if request is None:
        return
    await issue_invitation(
        session, request=request, settings=settings, now=now, appointment_id=appointment.id
    )
