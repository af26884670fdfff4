"""What booking does: keep its patients, open requests for cycles, book appointments."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from booking.db import (
    Appointment,
    BookingRequest,
    Location,
    Patient,
    Practitioner,
    Room,
    outbox,
)
from booking.domain.appointments import local_date, slot
from booking.schemas import AppointmentIn, LocationIn, PractitionerIn, RoomIn
from shared.contracts.booking import AppointmentBooked
from shared.contracts.plans import CycleScheduled, PatientContact
from shared.db import upsert
from shared.events import new_event
from shared.outbox import add_events
from shared.problems import Conflict, NotFound, Unprocessable

SOURCE = "/mesocycle/booking"

T = TypeVar("T")


async def keep_patient(session: AsyncSession, *, contact: PatientContact) -> None:
    """Create or refresh booking's copy of a patient."""
    values = {
        "full_name": contact.full_name,
        "time_zone": contact.time_zone,
        "needle_sensitive": contact.needle_sensitive,
    }
    await upsert(session, Patient, key={"id": contact.patient_id}, values=values)


async def open_booking_requests(
    session: AsyncSession, *, cycle: CycleScheduled, now: datetime
) -> None:
    """One booking request per scheduled session; a re-sent window moves the open request."""
    for window in cycle.sessions:
        values = {
            "target_date": window.target_date,
            "earliest_date": window.earliest_date,
            "latest_date": window.latest_date,
            "total_sessions": window.total_sessions,
        }
        await upsert(
            session,
            BookingRequest,
            key={"plan_id": cycle.plan_id, "session_number": window.session_number},
            values=values,
            insert_only={
                "id": uuid.uuid4(),
                "patient_id": cycle.patient_id,
                "indication": cycle.indication,
                "treatment": cycle.treatment,
                "session_minutes": cycle.session_minutes,
                "numbing_cream_advised": cycle.numbing_cream_advised,
                "preferred_practitioner_id": cycle.preferred_practitioner_id,
                "time_zone": cycle.time_zone,
                "status": "open",
                "created_at": now,
            },
            where=BookingRequest.status == "open",
        )


async def create_location(session: AsyncSession, *, location: LocationIn) -> Location:
    record = Location(id=uuid.uuid4(), **location.model_dump())
    session.add(record)
    await session.flush()
    return record


async def create_practitioner(
    session: AsyncSession, *, practitioner: PractitionerIn
) -> Practitioner:
    await _get(session, Location, practitioner.location_id, "location")
    record = Practitioner(id=uuid.uuid4(), **practitioner.model_dump())
    session.add(record)
    await session.flush()
    return record


async def create_room(session: AsyncSession, *, room: RoomIn) -> Room:
    await _get(session, Location, room.location_id, "location")
    record = Room(id=uuid.uuid4(), **room.model_dump())
    session.add(record)
    await session.flush()
    return record


async def list_booking_requests(
    session: AsyncSession, *, patient_id: uuid.UUID | None, status: str | None
) -> list[BookingRequest]:
    query = sa.select(BookingRequest).order_by(
        BookingRequest.patient_id, BookingRequest.plan_id, BookingRequest.session_number
    )
    if patient_id is not None:
        query = query.where(BookingRequest.patient_id == patient_id)
    if status is not None:
        query = query.where(BookingRequest.status == status)
    return list(await session.scalars(query))


async def book_appointment(
    session: AsyncSession,
    *,
    booking: AppointmentIn,
    buffer_before: timedelta,
    buffer_after: timedelta,
    now: datetime,
) -> Appointment:
    """Book a session of a request; PostgreSQL refuses it if the time is taken."""
    request = await session.get(BookingRequest, booking.booking_request_id, with_for_update=True)
    if request is None:
        raise NotFound(f"no booking request {booking.booking_request_id}")
    if request.status != "open":
        raise Conflict(f"booking request is {request.status}, not open")
    practitioner = await _get(session, Practitioner, booking.practitioner_id, "practitioner")
    room = await _get(session, Room, booking.room_id, "room")
    location = await _get(session, Location, practitioner.location_id, "location")
    if room.location_id != location.id:
        raise Unprocessable("the room is not at the practitioner's location")
    if request.indication not in practitioner.indications:
        raise Unprocessable(f"{practitioner.full_name} does not treat {request.indication}")
    if booking.starts_at <= now:
        raise Unprocessable("the appointment would start in the past")
    day = local_date(booking.starts_at, location.time_zone)
    if not request.earliest_date <= day <= request.latest_date:
        raise Unprocessable(
            f"session {request.session_number} must happen between {request.earliest_date} "
            f"and {request.latest_date}; {day} is outside its window"
        )
    times = slot(
        starts_at=booking.starts_at,
        minutes=request.session_minutes,
        buffer_before=buffer_before,
        buffer_after=buffer_after,
    )
    appointment = Appointment(
        id=uuid.uuid4(),
        version=1,
        status="booked",
        patient_id=request.patient_id,
        booking_request_id=request.id,
        practitioner_id=practitioner.id,
        room_id=room.id,
        location_id=location.id,
        starts_at=times.starts_at,
        ends_at=times.ends_at,
        blocked_from=times.blocked_from,
        blocked_until=times.blocked_until,
        created_at=now,
        updated_at=now,
    )
    session.add(appointment)
    try:
        await session.flush()
    except IntegrityError as error:
        conflict = _double_booking(error)
        if conflict is None:
            raise
        raise conflict from None
    request.status = "booked"
    booked = AppointmentBooked(
        appointment_id=appointment.id,
        version=appointment.version,
        status=appointment.status,
        patient_id=appointment.patient_id,
        plan_id=request.plan_id,
        booking_request_id=request.id,
        session_number=request.session_number,
        total_sessions=request.total_sessions,
        treatment=request.treatment,
        numbing_cream_advised=request.numbing_cream_advised,
        practitioner_id=practitioner.id,
        room_id=room.id,
        location_id=location.id,
        location_time_zone=location.time_zone,
        starts_at=appointment.starts_at,
        ends_at=appointment.ends_at,
    )
    event = new_event(booked, source=SOURCE, key=str(appointment.patient_id), now=now)
    await add_events(session, outbox, [event])
    return appointment


async def get_appointment(session: AsyncSession, *, appointment_id: uuid.UUID) -> Appointment:
    return await _get(session, Appointment, appointment_id, "appointment")


async def _get(session: AsyncSession, model: type[T], id_: uuid.UUID, what: str) -> T:
    record = await session.get(model, id_)
    if record is None:
        raise NotFound(f"no {what} {id_}")
    return record


def _double_booking(error: IntegrityError) -> Conflict | None:
    """The 409 for a violated no-double-booking constraint, naming what is taken."""
    name = str(error.orig)
    if "no_double_booking_practitioner" in name:
        return Conflict("the practitioner is already booked at that time", conflict="practitioner")
    if "no_double_booking_room" in name:
        return Conflict("the room is already booked at that time", conflict="room")
    return None
