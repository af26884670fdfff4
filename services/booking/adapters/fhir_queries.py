"""Read-only queries behind booking's FHIR API (booking.api.fhir): appointments with what
their resource shows, and the schedules (one per practitioner, one per room)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from booking.adapters.db import Appointment, BookingRequest, Location, Patient, Practitioner, Room


@dataclass(frozen=True)
class AppointmentLine:
    """An appointment and what its FHIR resource names: its place's zone, the patient's
    name, the room's and the practitioner's, and its session of a plan."""

    appointment: Appointment
    time_zone: str
    patient_name: str | None
    practitioner_name: str
    room_name: str
    request: BookingRequest | None


@dataclass(frozen=True)
class Bound:
    """``starts_at`` against an instant: fixed, or (``local``) a wall-clock time read in
    the time zone of each appointment's location."""

    operator: Literal["ge", "lt"]
    at: datetime
    local: bool


@dataclass(frozen=True)
class AppointmentFilter:
    """Each field an AND; inside one, any value (None: no condition)."""

    ids: Sequence[uuid.UUID] | None = None
    patient_ids: Sequence[uuid.UUID] | None = None
    practitioner_ids: Sequence[uuid.UUID] | None = None
    statuses: Sequence[str] | None = None
    #: An AND of ORs of ANDs: each date criterion is any of its values' spans.
    starts: Sequence[Sequence[Sequence[Bound]]] = ()


def _bound(bound: Bound) -> sa.ColumnElement[bool]:
    at: sa.ColumnElement[datetime]
    if bound.local:
        # timezone(zone, timestamp): that wall-clock time at the location, as an instant.
        wall = sa.literal(bound.at, sa.DateTime(timezone=False))
        at = sa.func.timezone(Location.time_zone, wall, type_=sa.DateTime(timezone=True))
    else:
        at = sa.literal(bound.at, sa.DateTime(timezone=True))
    return Appointment.starts_at >= at if bound.operator == "ge" else Appointment.starts_at < at


def _appointments(where: AppointmentFilter) -> sa.Select[Appointment]:
    query = sa.select(Appointment).join(Location, Location.id == Appointment.location_id)
    for column, values in (
        (Appointment.id, where.ids),
        (Appointment.patient_id, where.patient_ids),
        (Appointment.practitioner_id, where.practitioner_ids),
        (Appointment.status, where.statuses),
    ):
        if values is not None:
            query = query.where(column.in_(values))
    for anyof in where.starts:
        query = query.where(sa.or_(*(sa.and_(sa.true(), *map(_bound, span)) for span in anyof)))
    return query


async def count_appointments(session: AsyncSession, where: AppointmentFilter) -> int:
    query = _appointments(where).with_only_columns(sa.func.count()).order_by(None)
    return int(await session.scalar(query) or 0)


async def appointment_lines(
    session: AsyncSession, where: AppointmentFilter, *, limit: int, offset: int
) -> list[AppointmentLine]:
    """A page of the appointments ``where`` matches, earliest first."""
    query = (
        _appointments(where)
        .add_columns(
            Location.time_zone,
            Patient.full_name,
            Patient.erased,
            Practitioner.full_name,
            Room.name,
            BookingRequest,
        )
        .join(Practitioner, Practitioner.id == Appointment.practitioner_id)
        .join(Room, Room.id == Appointment.room_id)
        .outerjoin(Patient, Patient.id == Appointment.patient_id)
        .outerjoin(BookingRequest, BookingRequest.id == Appointment.booking_request_id)
        .order_by(Appointment.starts_at, Appointment.id)
        .limit(limit)
        .offset(offset)
    )
    return [
        AppointmentLine(appointment, zone, None if erased else name, practitioner, room, request)
        for appointment, zone, name, erased, practitioner, room, request in (
            await session.execute(query)
        ).all()
    ]


@dataclass(frozen=True)
class ScheduleOwner:
    """What a schedule is of: a practitioner or a room, at its location."""

    kind: Literal["practitioner", "room"]
    id: uuid.UUID
    name: str
    location_id: uuid.UUID
    time_zone: str


async def schedule_owners(
    session: AsyncSession, *, location_id: uuid.UUID | None = None
) -> list[ScheduleOwner]:
    """Every practitioner's and room's schedule (or those at one location): practitioners
    first, then rooms, each by name."""
    owners: list[ScheduleOwner] = []
    for kind, model, name in (
        ("practitioner", Practitioner, Practitioner.full_name),
        ("room", Room, Room.name),
    ):
        query = (
            sa.select(model.id, name, model.location_id, Location.time_zone)
            .join(Location, Location.id == model.location_id)
            .order_by(name, model.id)
        )
        if location_id is not None:
            query = query.where(model.location_id == location_id)
        for id_, label, location, zone in (await session.execute(query)).all():
            owners.append(ScheduleOwner(kind, id_, label, location, zone))  # type: ignore[arg-type]
    return owners
