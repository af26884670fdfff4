"""The staff's view of the day and week, and a practitioner's calendar feed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from booking.adapters.db import Appointment, BookingRequest, Location, Patient, Practitioner, Room
from booking.domain.calendar import CalendarEntry
from booking.domain.errors import UnsuitableChoice
from booking.use_cases.records import get_or_404
from shared.contracts.booking import AppointmentStatus


@dataclass(frozen=True)
class ScheduleLine:
    appointment: Appointment
    patient_name: str | None
    request: BookingRequest | None


async def time_zone_of(
    session: AsyncSession,
    *,
    location_id: uuid.UUID | None,
    practitioner_id: uuid.UUID | None,
    room_id: uuid.UUID | None,
) -> str:
    """The time zone a schedule's days are cut in: its location's."""
    if location_id is None and practitioner_id is not None:
        location_id = (
            await get_or_404(session, Practitioner, practitioner_id, "practitioner")
        ).location_id
    if location_id is None and room_id is not None:
        location_id = (await get_or_404(session, Room, room_id, "room")).location_id
    if location_id is None:
        raise UnsuitableChoice("name a location_id, practitioner_id or room_id")
    return (await get_or_404(session, Location, location_id, "location")).time_zone


async def schedule(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    location_id: uuid.UUID | None = None,
    practitioner_id: uuid.UUID | None = None,
    room_id: uuid.UUID | None = None,
    statuses: list[str] | None = None,
    limit: int = 500,
    offset: int = 0,
) -> list[ScheduleLine]:
    """Appointments starting in ``[start, end)`` at a location, for a practitioner or in a
    room, in time order, with who the patient is and which session of their course."""
    query = (
        # An erased patient's name is gone: the line shows no name at all.
        sa.select(Appointment, sa.func.nullif(Patient.full_name, ""), BookingRequest)
        .outerjoin(Patient, Patient.id == Appointment.patient_id)
        .outerjoin(BookingRequest, BookingRequest.id == Appointment.booking_request_id)
        .where(Appointment.starts_at >= start, Appointment.starts_at < end)
        .order_by(Appointment.starts_at, Appointment.id)
    )
    if location_id is not None:
        query = query.where(Appointment.location_id == location_id)
    if practitioner_id is not None:
        query = query.where(Appointment.practitioner_id == practitioner_id)
    if room_id is not None:
        query = query.where(Appointment.room_id == room_id)
    if statuses:
        query = query.where(Appointment.status.in_(statuses))
    rows = await session.execute(query.limit(limit).offset(offset))
    return [ScheduleLine(a, name, r) for a, name, r in rows]


async def calendar_entries(
    session: AsyncSession, *, practitioner_id: uuid.UUID, since: datetime
) -> tuple[str, list[CalendarEntry]]:
    """The practitioner's name and their appointments from ``since`` on (cancelled ones too,
    so calendar apps remove them)."""
    practitioner = await get_or_404(session, Practitioner, practitioner_id, "practitioner")
    lines = await schedule(
        session,
        start=since,
        end=datetime.max.replace(tzinfo=since.tzinfo),
        practitioner_id=practitioner_id,
        statuses=[s.value for s in AppointmentStatus if s is not AppointmentStatus.HELD],
        limit=5000,
    )
    entries = []
    for line in lines:
        request = line.request
        session_text = (
            f"session {request.session_number} of {request.total_sessions} ({request.treatment})"
            if request
            else "session"
        )
        cream = " - numbing cream advised" if request and request.numbing_cream_advised else ""
        entries.append(
            CalendarEntry(
                appointment_id=line.appointment.id,
                version=line.appointment.version,
                starts_at=line.appointment.starts_at,
                ends_at=line.appointment.ends_at,
                summary=f"{line.patient_name or 'Patient'}: {session_text}",
                description=f"status {line.appointment.status}{cream}",
                cancelled=line.appointment.status == AppointmentStatus.CANCELLED,
            )
        )
    return practitioner.full_name, entries
