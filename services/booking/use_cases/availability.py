"""Slot search: free start times for a booking request, from the database's view of the clinic."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from booking.db import (
    ACTIVE_STATUSES,
    Appointment,
    BookingRequest,
    Instant,
    Practitioner,
    Room,
    TimeOff,
    WorkingHours,
)
from booking.domain.availability import (
    EVERY_DAY,
    Interval,
    Offer,
    Resource,
    Search,
    WeeklyHours,
    find_offers,
    opening_intervals,
    wall_clock,
)
from booking.settings import BookingSettings
from booking.use_cases import resource_cache
from booking.use_cases.resource_cache import LocationInfo
from shared.problems import Unprocessable


@dataclass(frozen=True)
class Clinic:
    """One location's practitioners and rooms as availability needs them."""

    location: LocationInfo
    practitioners: list[Resource]
    rooms: list[Resource]


async def load_clinic(
    session: AsyncSession,
    *,
    location: LocationInfo,
    practitioner_ids: Sequence[uuid.UUID],
    room_ids: Sequence[uuid.UUID],
    span: Interval,
    with_taken: bool = True,
) -> Clinic:
    """Hours, time off and (``with_taken``) taken time of these resources over ``span``."""
    ids = [location.id, *practitioner_ids, *room_ids]
    # Weekly hours and time off in one round trip: the booking path runs this each time.
    no_time = sa.cast(sa.null(), Instant)
    no_clock = sa.cast(sa.null(), sa.Time)
    hours_rows = sa.select(
        WorkingHours.resource_id,
        WorkingHours.weekday,
        WorkingHours.opens,
        WorkingHours.closes,
        no_time.label("starts_at"),
        no_time.label("ends_at"),
    ).where(WorkingHours.resource_id.in_(ids))
    away_rows = sa.select(
        TimeOff.resource_id,
        sa.cast(sa.null(), sa.SmallInteger),
        no_clock,
        no_clock,
        TimeOff.starts_at,
        TimeOff.ends_at,
    ).where(
        TimeOff.resource_id.in_(ids), TimeOff.starts_at < span.end, TimeOff.ends_at > span.start
    )
    hours: dict[uuid.UUID, list[WeeklyHours]] = {}
    away: dict[uuid.UUID, list[Interval]] = {}
    for row in await session.execute(sa.union_all(hours_rows, away_rows)):
        if row.weekday is not None:
            hours.setdefault(row.resource_id, []).append(
                WeeklyHours(row.weekday, row.opens, row.closes)
            )
        else:
            away.setdefault(row.resource_id, []).append(Interval(row.starts_at, row.ends_at))
    taken: dict[uuid.UUID, list[Interval]] = {}
    busy = sa.select(
        Appointment.practitioner_id,
        Appointment.room_id,
        Appointment.blocked_from,
        Appointment.blocked_until,
    ).where(
        sa.or_(
            Appointment.practitioner_id.in_(practitioner_ids), Appointment.room_id.in_(room_ids)
        ),
        Appointment.status.in_(ACTIVE_STATUSES),
        Appointment.blocked_from < span.end,
        Appointment.blocked_until > span.start,
    )
    for held in await session.execute(busy) if with_taken else []:
        blocked = Interval(held.blocked_from, held.blocked_until)
        taken.setdefault(held.practitioner_id, []).append(blocked)
        taken.setdefault(held.room_id, []).append(blocked)
    location_hours = hours.get(location.id) or list(EVERY_DAY)
    closed = away.get(location.id, [])

    def resource(id_: uuid.UUID) -> Resource:
        return Resource(
            id=id_,
            hours=hours.get(id_) or location_hours,
            away=[*away.get(id_, []), *closed],
            taken=taken.get(id_, []),
        )

    return Clinic(
        location, [resource(i) for i in practitioner_ids], [resource(i) for i in room_ids]
    )


def session_fits_hours(
    clinic: Clinic, practitioner_id: uuid.UUID, room_id: uuid.UUID, session_span: Interval
) -> str | None:
    """Why the session cannot be at this time for these resources, or None if it can."""
    zone = clinic.location.time_zone
    day = session_span.start.astimezone(ZoneInfo(zone)).date()
    for kind, resources, id_ in (
        ("practitioner", clinic.practitioners, practitioner_id),
        ("room", clinic.rooms, room_id),
    ):
        [resource] = [r for r in resources if r.id == id_]
        spans = opening_intervals(resource.hours, day - timedelta(days=1), day, zone)
        if not any(span.contains(session_span) for span in spans):
            return f"the {kind} does not work at that time"
        if any(session_span.overlaps(a) for a in resource.away):
            return f"the {kind} is away (time off or closure) at that time"
    return None


async def find_slots(
    session: AsyncSession,
    *,
    request: BookingRequest,
    settings: BookingSettings,
    now: datetime,
    practitioner_id: uuid.UUID | None = None,
    limit: int = 200,
) -> list[Offer]:
    """Free starts for ``request`` inside its window, with any qualified practitioner
    (or the one asked for) and a room free too."""
    query = sa.select(Practitioner).where(Practitioner.indications.contains([request.indication]))
    if practitioner_id is not None:
        query = query.where(Practitioner.id == practitioner_id)
    practitioners = list(await session.scalars(query))
    if not practitioners:
        if practitioner_id is not None:
            raise Unprocessable(
                f"practitioner {practitioner_id} does not treat {request.indication}"
            )
        return []
    offers: list[Offer] = []
    for location_id in sorted({p.location_id for p in practitioners}):
        location = await resource_cache.location(session, location_id)
        rooms = list(
            await session.scalars(sa.select(Room.id).where(Room.location_id == location_id))
        )
        here = [p.id for p in practitioners if p.location_id == location_id]
        search = _search(request, location, settings, now)
        zone = ZoneInfo(location.time_zone)
        span = Interval(
            wall_clock(request.earliest_date - timedelta(days=1), time(0), zone),
            wall_clock(request.latest_date + timedelta(days=2), time(0), zone),
        )
        clinic = await load_clinic(
            session, location=location, practitioner_ids=here, room_ids=rooms, span=span
        )
        offers += find_offers(search, clinic.practitioners, clinic.rooms, limit=limit)
    return sorted(offers, key=lambda o: o.starts_at)[:limit]


def _search(
    request: BookingRequest, location: LocationInfo, settings: BookingSettings, now: datetime
) -> Search:
    return Search(
        first_day=request.earliest_date,
        last_day=request.latest_date,
        time_zone=location.time_zone,
        minutes=request.session_minutes,
        buffer_before=settings.buffer_before,
        buffer_after=settings.buffer_after,
        granularity=timedelta(minutes=settings.slot_granularity_minutes),
        earliest_start=now + timedelta(hours=settings.minimum_notice_hours),
        latest_start=now + timedelta(days=settings.horizon_days),
    )
