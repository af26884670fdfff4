"""The staff's day and week."""

from __future__ import annotations

import uuid
from datetime import date, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query

from booking.api.deps import SessionDep, own_practitioner
from booking.api.schemas import AppointmentOut, ScheduleEntryOut
from booking.domain.availability import wall_clock
from booking.use_cases import schedule as use_cases
from shared.api import Day, Offset, StaffDep
from shared.auth import Role
from shared.contracts.booking import AppointmentStatus
from shared.problems import problems

router = APIRouter(prefix="/v1", tags=["schedule"])


@router.get("/schedule", responses=problems(403, 404))
async def schedule(
    session: SessionDep,
    user: StaffDep,
    day: Annotated[
        Day,
        Query(
            ge=date(1900, 1, 1),
            le=date(2999, 12, 31),
            json_schema_extra={"pattern": "^(19|2[0-9])[0-9]{2}-"},
            description="a day from 1900 to 2999",
        ),
    ],
    view: Literal["day", "week"] = "day",
    location_id: uuid.UUID | None = None,
    practitioner_id: uuid.UUID | None = None,
    room_id: uuid.UUID | None = None,
    status: Annotated[list[AppointmentStatus] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    offset: Offset = 0,
) -> list[ScheduleEntryOut]:
    """A day (or the Monday-to-Sunday week of ``day``) at a location, for a practitioner or
    in a room, cut at midnight where the location is. Practitioners see only their own."""
    if user.role is Role.PRACTITIONER:
        practitioner_id = own_practitioner(user, practitioner_id)
    zone = await use_cases.time_zone_of(
        session, location_id=location_id, practitioner_id=practitioner_id, room_id=room_id
    )
    first = day if view == "day" else day - timedelta(days=day.weekday())
    days = 1 if view == "day" else 7
    start = wall_clock(first, time(0), ZoneInfo(zone))
    end = wall_clock(first + timedelta(days=days), time(0), ZoneInfo(zone))
    lines = await use_cases.schedule(
        session,
        start=start,
        end=end,
        location_id=location_id,
        practitioner_id=practitioner_id,
        room_id=room_id,
        statuses=[s.value for s in status or ()] or None,
        limit=limit,
        offset=offset,
    )
    return [
        ScheduleEntryOut(
            appointment=AppointmentOut.model_validate(line.appointment),
            patient_name=line.patient_name,
            session_number=line.request.session_number if line.request else None,
            total_sessions=line.request.total_sessions if line.request else None,
            treatment=line.request.treatment if line.request else None,
            numbing_cream_advised=bool(line.request and line.request.numbing_cream_advised),
            confirmation_status=line.appointment.confirmation_status,
            reminder_status=line.appointment.reminder_status,
        )
        for line in lines
    ]
