"""Practitioners, rooms and locations as the booking path reads them, kept per process.

Safe to keep: these rows are only ever created (no API changes a practitioner's location
or indications, a room's location or a location's time zone), ids are never reused, and
a miss is never kept, so a new resource is seen at once. Entries still expire after a
minute, so a change made straight in the database is picked up without a restart.
Hours and time off are NOT kept here: staff change them, and a booking must see that.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from booking.adapters.db import Location, Practitioner, Room
from booking.domain.errors import Unknown

TTL_SECONDS = 60.0

T = TypeVar("T")


@dataclass(frozen=True)
class PractitionerInfo:
    id: uuid.UUID
    location_id: uuid.UUID
    full_name: str
    indications: frozenset[str]


@dataclass(frozen=True)
class RoomInfo:
    id: uuid.UUID
    location_id: uuid.UUID


@dataclass(frozen=True)
class LocationInfo:
    id: uuid.UUID
    time_zone: str


_kept: dict[tuple[str, uuid.UUID], tuple[float, object]] = {}


def _cached(kind: str, id_: uuid.UUID) -> object | None:
    found = _kept.get((kind, id_))
    if found is None or found[0] < time.monotonic():
        return None
    return found[1]


def _keep(kind: str, id_: uuid.UUID, value: T) -> T:
    _kept[kind, id_] = (time.monotonic() + TTL_SECONDS, value)
    return value


async def practitioner(session: AsyncSession, id_: uuid.UUID) -> PractitionerInfo:
    """The practitioner, or 404."""
    found = _cached("practitioner", id_)
    if isinstance(found, PractitionerInfo):
        return found
    row = (
        await session.execute(
            sa.select(
                Practitioner.location_id, Practitioner.full_name, Practitioner.indications
            ).where(Practitioner.id == id_)
        )
    ).first()
    if row is None:
        raise Unknown(f"no practitioner {id_}")
    info = PractitionerInfo(id_, row.location_id, row.full_name, frozenset(row.indications))
    return _keep("practitioner", id_, info)


async def room(session: AsyncSession, id_: uuid.UUID) -> RoomInfo:
    """The room, or 404."""
    found = _cached("room", id_)
    if isinstance(found, RoomInfo):
        return found
    location_id = await session.scalar(sa.select(Room.location_id).where(Room.id == id_))
    if location_id is None:
        raise Unknown(f"no room {id_}")
    return _keep("room", id_, RoomInfo(id_, location_id))


async def location(session: AsyncSession, id_: uuid.UUID) -> LocationInfo:
    """The location, or 404."""
    found = _cached("location", id_)
    if isinstance(found, LocationInfo):
        return found
    zone = await session.scalar(sa.select(Location.time_zone).where(Location.id == id_))
    if zone is None:
        raise Unknown(f"no location {id_}")
    return _keep("location", id_, LocationInfo(id_, zone))
