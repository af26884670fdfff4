"""Slot search: free start times for a booking request, from the database's view of the clinic."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from booking.adapters.db import (
    Appointment,
    BookingRequest,
    Practitioner,
    Room,
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
    preferred_first,
    wall_clock,
)
from booking.domain.course import Allowed
from booking.domain.errors import UnsuitableChoice
from booking.settings import BookingSettings
from booking.use_cases import hot_path, resource_cache, spacing
from booking.use_cases.resource_cache import LocationInfo
from shared.contracts.booking import ACTIVE


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
    hours: dict[uuid.UUID, list[WeeklyHours]] = {}
    away: dict[uuid.UUID, list[Interval]] = {}
    for row in await hot_path.hours_and_time_off(session, ids, span.start, span.end):
        if row["weekday"] is not None:
            hours.setdefault(row["resource_id"], []).append(
                WeeklyHours(row["weekday"], row["opens"], row["closes"])
            )
        else:
            away.setdefault(row["resource_id"], []).append(
                Interval(row["starts_at"], row["ends_at"])
            )
    taken: dict[uuid.UUID, list[Interval]] = {}
    if with_taken:  # (not even built otherwise: building a statement costs on the hot path)
        busy = sa.select(
            Appointment.practitioner_id,
            Appointment.room_id,
            Appointment.blocked_from,
            Appointment.blocked_until,
        ).where(
            sa.or_(
                Appointment.practitioner_id.in_(practitioner_ids),
                Appointment.room_id.in_(room_ids),
            ),
            Appointment.status.in_(ACTIVE),
            Appointment.blocked_from < span.end,
            Appointment.blocked_until > span.start,
        )
        for held in await session.execute(busy):
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
    preferred_only: bool = False,
    limit: int = 200,
) -> list[Offer]:
    """Free starts for ``request`` inside its window, with any qualified practitioner
    (or the one asked for) and a room free too, on days the spacing rule allows (far
    enough from the course's other active sessions). The request's preferred practitioner's
    starts come first; with ``preferred_only``, theirs alone (422 when there is none)."""
    preferred = request.preferred_practitioner_id
    if preferred_only:
        if preferred is None:
            raise UnsuitableChoice("this booking request has no preferred practitioner")
        if practitioner_id is not None and practitioner_id != preferred:
            raise UnsuitableChoice(
                "practitioner_id and preferred_only ask for two different practitioners"
            )
        practitioner_id = preferred
    query = sa.select(Practitioner).where(Practitioner.indications.contains([request.indication]))
    if practitioner_id is not None:
        query = query.where(Practitioner.id == practitioner_id)
    practitioners = list(await session.scalars(query))
    if not practitioners:
        if practitioner_id is not None:
            raise UnsuitableChoice(
                f"practitioner {practitioner_id} does not treat {request.indication}"
            )
        return []
    # Only days far enough from the course's other active sessions (the spacing rule).
    allowed = (await spacing.load_course(session, request.plan_id)).allowed(request.session_number)
    offers: list[Offer] = []
    for location_id in sorted({p.location_id for p in practitioners}):
        location = await resource_cache.location(session, location_id)
        rooms = list(
            await session.scalars(sa.select(Room.id).where(Room.location_id == location_id))
        )
        here = [p.id for p in practitioners if p.location_id == location_id]
        search = _search(request, location, settings, now, allowed)
        if search.first_day > search.last_day:
            continue
        zone = ZoneInfo(location.time_zone)
        span = Interval(
            wall_clock(request.earliest_date - timedelta(days=1), time(0), zone),
            wall_clock(request.latest_date + timedelta(days=2), time(0), zone),
        )
        clinic = await load_clinic(
            session, location=location, practitioner_ids=here, room_ids=rooms, span=span
        )
        # Searched apart, so the others' earlier starts never crowd the preferred one out.
        for group in (
            [r for r in clinic.practitioners if r.id == preferred],
            [r for r in clinic.practitioners if r.id != preferred],
        ):
            if group:
                offers += find_offers(search, group, clinic.rooms, limit=limit)
    return preferred_first(offers, preferred)[:limit]


def _search(
    request: BookingRequest,
    location: LocationInfo,
    settings: BookingSettings,
    now: datetime,
    allowed: Allowed,
) -> Search:
    first_day, last_day = request.earliest_date, request.latest_date
    if allowed.earliest is not None:
        first_day = max(first_day, allowed.earliest)
    if allowed.latest is not None:
        last_day = min(last_day, allowed.latest)
    return Search(
        first_day=first_day,
        last_day=last_day,
        time_zone=location.time_zone,
        minutes=request.session_minutes,
        buffer_before=settings.buffer_before,
        buffer_after=settings.buffer_after,
        granularity=timedelta(minutes=settings.slot_granularity_minutes),
        earliest_start=now + timedelta(hours=settings.minimum_notice_hours),
        latest_start=now + timedelta(days=settings.horizon_days),
    )
