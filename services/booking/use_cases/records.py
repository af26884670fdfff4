"""Loading records or answering 404, and announcing an appointment's change as its event."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from booking.adapters import store
from booking.adapters.db import Appointment, BookingRequest
from booking.domain.errors import Unknown
from booking.domain.lifecycle import Action
from shared.contracts import booking as contract
from shared.contracts.booking import AppointmentStatus
from shared.db import Db, orm
from shared.events import Event, new_event
from shared.outbox import outbox_row

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
        raise Unknown(f"no {what} {id_}")
    return record


async def announce(
    db: Db, appointment: Appointment, kind: type[contract.AppointmentSnapshot], *, now: datetime
) -> None:
    """Stage the appointment as it now stands, as event ``kind``, in the outbox, in one
    round trip (see store.STAGE_EVENT)."""
    event = await event_of(db, appointment, kind, now=now)
    await store.stage_event(db, outbox_row(event), None)


async def event_of(
    db: Db,
    appointment: Appointment,
    kind: type[contract.AppointmentSnapshot],
    *,
    now: datetime,
    request: BookingRequest | None = None,
) -> Event[contract.AppointmentSnapshot]:
    """The appointment as it now stands, as event ``kind``."""
    if request is None and appointment.booking_request_id:
        request = await orm(db).get(BookingRequest, appointment.booking_request_id)
    location = await store.location(db, appointment.location_id)
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
    return new_event(snapshot, source=SOURCE, key=str(appointment.patient_id), now=now)


async def announcement(
    db: Db, appointment: Appointment, request: BookingRequest, request_status: str, *, now: datetime
) -> store.Announcement:
    """A new appointment's event (held or booked) and its request's new status (taken),
    for the store to write in one statement: with the appointment's insert
    (``store.insert_appointment``), else after it (:func:`announce_new`)."""
    kind = (
        contract.AppointmentHeld
        if appointment.status == AppointmentStatus.HELD
        else contract.AppointmentBooked
    )
    event = await event_of(db, appointment, kind, now=now, request=request)
    return store.Announcement(outbox_row(event), request.id, request_status)


async def announce_new(db: Db, announcing: store.Announcement) -> None:
    """Stage a new appointment's event and write its request's new status in the same
    statement: when its insert could not (it was tried again)."""
    await store.stage_event(db, announcing.row, (announcing.request_id, announcing.request_status))
