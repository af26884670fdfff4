"""Free/busy of a practitioner's or a room's schedule on the slot grid (FHIR Slots).

A grid start inside the schedule's own hours is **free** exactly when slot search would
offer a session of one grid step then: the same clinic (``store.load_clinic``), the same
rule (``domain.availability.find_offers``: hours, time off, a room or a practitioner free
to go with it, buffers) and the same notice and horizon as ``use_cases.availability``.
Otherwise it is **busy** when an appointment (buffers included) takes part of it, else
**busy-unavailable** (time off, a closure, nobody or nowhere to go with it).
"""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from booking.adapters import store
from booking.adapters.db import Practitioner, Room
from booking.adapters.fhir_queries import ScheduleOwner
from booking.domain.availability import (
    Interval,
    LocationInfo,
    Search,
    candidate_starts,
    find_offers,
    opening_intervals,
    wall_clock,
)
from booking.settings import BookingSettings

SlotStatus = Literal["free", "busy", "busy-unavailable"]


@dataclass(frozen=True)
class GridSlot:
    """One step of a schedule's grid and whether it is free."""

    start: datetime
    end: datetime
    status: SlotStatus


def grid_search(
    settings: BookingSettings, *, first_day: date, last_day: date, time_zone: str, now: datetime
) -> Search:
    """Slot search for a session of one grid step, with booking's notice and horizon."""
    step = timedelta(minutes=settings.slot_granularity_minutes)
    return Search(
        first_day=first_day,
        last_day=last_day,
        time_zone=time_zone,
        minutes=settings.slot_granularity_minutes,
        buffer_before=settings.buffer_before,
        buffer_after=settings.buffer_after,
        granularity=step,
        earliest_start=now + timedelta(hours=settings.minimum_notice_hours),
        latest_start=now + timedelta(days=settings.horizon_days),
    )


async def free_busy(
    session: AsyncSession,
    *,
    owner: ScheduleOwner,
    first_day: date,
    last_day: date,
    settings: BookingSettings,
    now: datetime,
) -> list[GridSlot]:
    """The grid of ``owner``'s schedule from ``first_day`` to ``last_day`` (dates at its
    location), earliest first, each step free, busy or busy-unavailable."""
    zone = ZoneInfo(owner.time_zone)
    here: dict[str, list[uuid.UUID]] = {}
    for kind, model in (("practitioner", Practitioner), ("room", Room)):
        query = sa.select(model.id).where(model.location_id == owner.location_id)
        here[kind] = [owner.id] if kind == owner.kind else list(await session.scalars(query))
    clinic = await store.load_clinic(
        session,
        location=LocationInfo(owner.location_id, owner.time_zone),
        practitioner_ids=here["practitioner"],
        room_ids=here["room"],
        span=Interval(
            wall_clock(first_day - timedelta(days=1), time(0), zone),
            wall_clock(last_day + timedelta(days=2), time(0), zone),
        ),
    )
    search = grid_search(
        settings, first_day=first_day, last_day=last_day, time_zone=owner.time_zone, now=now
    )
    free = {o.starts_at for o in find_offers(search, clinic.practitioners, clinic.rooms,
                                             limit=sys.maxsize)}  # fmt: skip
    [resource] = [r for r in (*clinic.practitioners, *clinic.rooms) if r.id == owner.id]
    opening = opening_intervals(resource.hours, first_day, last_day, owner.time_zone)
    slots: dict[datetime, GridSlot] = {}
    for start in candidate_starts(opening, search):
        if start in slots:  # (weekly hours that overlap)
            continue
        step = Interval(start, start + search.granularity)
        status: SlotStatus = "free"
        if start not in free:
            taken = any(step.overlaps(t) for t in resource.taken)
            status = "busy" if taken else "busy-unavailable"
        slots[start] = GridSlot(step.start, step.end, status)
    return sorted(slots.values(), key=lambda slot: slot.start)
