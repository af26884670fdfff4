"""Loading records or answering 404, and announcing an appointment's change as its event."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from booking.db import Appointment, BookingRequest, Location, outbox
from booking.domain.lifecycle import Action
from shared.contracts import booking as contract
from shared.events import new_event
from shared.outbox import add_events
from shared.problems import NotFound

SOURCE = "/mesocycle/booking"

T = TypeVar("T")

#: The event each transition publishes.
EVENT_OF: dict[Action, type[contract.AppointmentSnapshot]] = {
    Action.BOOK: contract.AppointmentBooked,
    Action.CONFIRM: contract.AppointmentConfirmed,
    Action.RESCHEDULE: contract.AppointmentRescheduled,
    Action.CHECK_IN: contract.AppointmentCheckedIn,
    Action.COMPLETE: contract.AppointmentCompleted,
    Action.MARK_NO_SHOW: contract.AppointmentNoShow,
    Action.CANCEL: contract.AppointmentCancelled,
    Action.EXPIRE: contract.AppointmentCancelled,
}


async def get_or_404(
    session: AsyncSession, model: type[T], id_: uuid.UUID, what: str, *, lock: bool = False
) -> T:
    record = await session.get(model, id_, with_for_update=lock)
    if record is None:
        raise NotFound(f"no {what} {id_}")
    return record


async def announce(
    session: AsyncSession,
    appointment: Appointment,
    kind: type[contract.AppointmentSnapshot],
    *,
    now: datetime,
) -> None:
    """Stage the appointment as it now stands, as event ``kind``, in the outbox."""
    request = (
        await session.get(BookingRequest, appointment.booking_request_id)
        if appointment.booking_request_id
        else None
    )
    location = await get_or_404(session, Location, appointment.location_id, "location")
    snapshot = kind(
        appointment_id=appointment.id,
        version=appointment.version,
        status=appointment.status,
        patient_id=appointment.patient_id,
        plan_id=request.plan_id if request else None,
        booking_request_id=appointment.booking_request_id,
        session_number=request.session_number if request else None,
        total_sessions=request.total_sessions if request else None,
        treatment=request.treatment if request else "",
        numbing_cream_advised=request.numbing_cream_advised if request else False,
        practitioner_id=appointment.practitioner_id,
        room_id=appointment.room_id,
        location_id=appointment.location_id,
        location_time_zone=location.time_zone,
        starts_at=appointment.starts_at,
        ends_at=appointment.ends_at,
        hold_expires_at=appointment.hold_expires_at,
        changed_by=appointment.changed_by,
        reason=appointment.reason,
    )
    event = new_event(snapshot, source=SOURCE, key=str(appointment.patient_id), now=now)
    await add_events(session, outbox, [event])
