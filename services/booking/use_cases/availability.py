"""Slot search: free start times for a booking request, from the database's view of the clinic."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from booking.adapters import store
from booking.adapters.db import (
    BookingRequest,
)
from booking.domain.availability import (
    Interval,
    LocationInfo,
    Offer,
    Search,
    find_offers,
    preferred_first,
    wall_clock,
)
from booking.domain.course import Allowed, Placement, allowed_days
from booking.domain.errors import UnsuitableChoice
from booking.settings import BookingSettings


async def find_slots(
    session: AsyncSession,
    *,
    request: BookingRequest,
    settings: BookingSettings,
    now: datetime,
    practitioner_id: uuid.UUID | None = None,
    preferred_only: bool = False,
    limit: int = 200,
    also_placed: Sequence[Placement] = (),
    between: tuple[date, date] | None = None,
) -> list[Offer]:
    """Free starts for ``request`` inside its window, with any qualified practitioner
    (or the one asked for) and a room free too, on days the spacing rule allows (far
    enough from the course's other active sessions). The request's preferred practitioner's
    starts come first; with ``preferred_only``, theirs alone (422 when there is none).
    ``also_placed``: sessions of the course about to be placed too (a proposal), which the
    spacing rule counts as if booked. ``between``: only these days (at the location) of
    the window."""
    preferred = request.preferred_practitioner_id
    if preferred_only:
        if preferred is None:
            raise UnsuitableChoice("this booking request has no preferred practitioner")
        if practitioner_id is not None and practitioner_id != preferred:
            raise UnsuitableChoice(
                "practitioner_id and preferred_only ask for two different practitioners"
            )
        practitioner_id = preferred
    # The practitioners and the course in one round trip (adapters.store).
    practitioners, course = await store.treating_and_course(
        session,
        indication=request.indication,
        practitioner_id=practitioner_id,
        plan_id=request.plan_id,
    )
    if not practitioners:
        if practitioner_id is not None:
            raise UnsuitableChoice(
                f"practitioner {practitioner_id} does not treat {request.indication}"
            )
        return []
    # Only days far enough from the course's other active sessions (the spacing rule).
    allowed = allowed_days(
        request.session_number, [*course.placed, *also_placed], course.min_gap_days
    )
    offers: list[Offer] = []
    for location_id in sorted({where for _, where in practitioners}):
        location = await store.location(session, location_id)
        here = [id_ for id_, where in practitioners if where == location_id]
        search = _search(request, location, settings, now, allowed, between)
        if search.first_day > search.last_day:
            continue
        zone = ZoneInfo(location.time_zone)
        span = Interval(
            wall_clock(request.earliest_date - timedelta(days=1), time(0), zone),
            wall_clock(request.latest_date + timedelta(days=2), time(0), zone),
        )
        # The location's rooms and everyone's hours, time off and taken time, in one trip.
        clinic = await store.clinic_with_rooms(
            session, location=location, practitioner_ids=here, span=span
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
    between: tuple[date, date] | None,
) -> Search:
    first_day, last_day = request.earliest_date, request.latest_date
    if between is not None:
        first_day, last_day = max(first_day, between[0]), min(last_day, between[1])
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
