"""The clinic's resources: locations, practitioners, rooms, their weekly hours and time off."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from booking.adapters.db import Location, Practitioner, Room, TimeOff, WorkingHours
from booking.api.schemas import (
    LocationIn,
    PractitionerIn,
    ResourceKind,
    RoomIn,
    TimeOffIn,
    WeeklyHoursIn,
)
from booking.domain.errors import UnsuitableChoice
from booking.use_cases.records import get_or_404

_MODELS: dict[ResourceKind, type[Location] | type[Practitioner] | type[Room]] = {
    "location": Location,
    "practitioner": Practitioner,
    "room": Room,
}


async def create_location(session: AsyncSession, *, location: LocationIn) -> Location:
    record = Location(id=uuid.uuid4(), **location.model_dump())
    session.add(record)
    await session.flush()
    return record


async def create_practitioner(
    session: AsyncSession, *, practitioner: PractitionerIn
) -> Practitioner:
    await get_or_404(session, Location, practitioner.location_id, "location")
    record = Practitioner(id=uuid.uuid4(), **practitioner.model_dump())
    session.add(record)
    await session.flush()
    return record


async def create_room(session: AsyncSession, *, room: RoomIn) -> Room:
    await get_or_404(session, Location, room.location_id, "location")
    record = Room(id=uuid.uuid4(), **room.model_dump())
    session.add(record)
    await session.flush()
    return record


async def list_practitioners(
    session: AsyncSession, *, location_id: uuid.UUID | None, indication: str | None
) -> list[Practitioner]:
    query = sa.select(Practitioner).order_by(Practitioner.full_name)
    if location_id is not None:
        query = query.where(Practitioner.location_id == location_id)
    if indication is not None:
        query = query.where(Practitioner.indications.contains([indication]))
    return list(await session.scalars(query))


async def list_rooms(session: AsyncSession, *, location_id: uuid.UUID | None) -> list[Room]:
    query = sa.select(Room).order_by(Room.name)
    if location_id is not None:
        query = query.where(Room.location_id == location_id)
    return list(await session.scalars(query))


async def set_weekly_hours(
    session: AsyncSession,
    *,
    kind: ResourceKind,
    resource_id: uuid.UUID,
    hours: list[WeeklyHoursIn],
) -> list[WorkingHours]:
    """Replace a resource's weekly hours (an empty list: back to its location's hours)."""
    await get_or_404(session, _MODELS[kind], resource_id, kind)
    for rule in hours:
        if rule.opens >= rule.closes:
            raise UnsuitableChoice(
                f"on weekday {rule.weekday} opens {rule.opens} is not before closes"
            )
    await session.execute(sa.delete(WorkingHours).where(WorkingHours.resource_id == resource_id))
    records = [
        WorkingHours(id=uuid.uuid4(), resource_kind=kind, resource_id=resource_id, **r.model_dump())
        for r in hours
    ]
    session.add_all(records)
    await session.flush()
    return records


async def add_time_off(session: AsyncSession, *, time_off: TimeOffIn) -> TimeOff:
    """A practitioner's leave, a room out of use, a location closed. Appointments already
    booked then stay: staff see them on the schedule and move them."""
    await get_or_404(session, _MODELS[time_off.resource_kind], time_off.resource_id, "resource")
    if time_off.starts_at >= time_off.ends_at:
        raise UnsuitableChoice("time off must start before it ends")
    record = TimeOff(id=uuid.uuid4(), **time_off.model_dump())
    session.add(record)
    await session.flush()
    return record


async def list_locations(session: AsyncSession) -> list[Location]:
    return list(await session.scalars(sa.select(Location).order_by(Location.name, Location.id)))


async def list_time_off(
    session: AsyncSession,
    *,
    kind: ResourceKind,
    resource_id: uuid.UUID,
    ends_after: datetime | None,
    limit: int,
) -> list[TimeOff]:
    """The resource's time off (404 if there is no such resource), earliest first; with
    ``ends_after``, only what is not over by then."""
    await get_or_404(session, _MODELS[kind], resource_id, kind)
    query = sa.select(TimeOff).where(
        TimeOff.resource_kind == kind, TimeOff.resource_id == resource_id
    )
    if ends_after is not None:
        query = query.where(TimeOff.ends_at > ends_after)
    return list(await session.scalars(query.order_by(TimeOff.starts_at, TimeOff.id).limit(limit)))
