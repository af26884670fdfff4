"""The clinic's resources: locations, practitioners, rooms, weekly hours, time off."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from booking.api.deps import RuntimeDep, SessionDep
from booking.api.schemas import (
    LocationIn,
    LocationOut,
    PractitionerIn,
    PractitionerOut,
    ResourceKind,
    RoomIn,
    RoomOut,
    TimeOffIn,
    TimeOffOut,
    WeeklyHoursIn,
)
from booking.use_cases import resources
from shared.api import AdminDep, DeskDep, Instant, StaffDep

router = APIRouter(prefix="/v1", tags=["resources"])


@router.post("/locations", status_code=201)
async def create_location(body: LocationIn, runtime: RuntimeDep, _: AdminDep) -> LocationOut:
    async with runtime.sessions.begin() as session:
        location = await resources.create_location(session, location=body)
    return LocationOut.model_validate(location)


@router.post("/practitioners", status_code=201)
async def create_practitioner(
    body: PractitionerIn, runtime: RuntimeDep, _: AdminDep
) -> PractitionerOut:
    async with runtime.sessions.begin() as session:
        practitioner = await resources.create_practitioner(session, practitioner=body)
    return PractitionerOut.model_validate(practitioner)


@router.get("/practitioners")
async def list_practitioners(
    session: SessionDep,
    _: StaffDep,
    location_id: uuid.UUID | None = None,
    indication: str | None = None,
) -> list[PractitionerOut]:
    found = await resources.list_practitioners(
        session, location_id=location_id, indication=indication
    )
    return [PractitionerOut.model_validate(p) for p in found]


@router.post("/rooms", status_code=201)
async def create_room(body: RoomIn, runtime: RuntimeDep, _: AdminDep) -> RoomOut:
    async with runtime.sessions.begin() as session:
        room = await resources.create_room(session, room=body)
    return RoomOut.model_validate(room)


@router.get("/rooms")
async def list_rooms(
    session: SessionDep, _: StaffDep, location_id: uuid.UUID | None = None
) -> list[RoomOut]:
    found = await resources.list_rooms(session, location_id=location_id)
    return [RoomOut.model_validate(r) for r in found]


@router.put("/{kind}s/{resource_id}/weekly-hours")
async def set_weekly_hours(
    kind: ResourceKind,
    resource_id: uuid.UUID,
    body: list[WeeklyHoursIn],
    runtime: RuntimeDep,
    _: AdminDep,
) -> list[WeeklyHoursIn]:
    """Replace the weekly hours of a location, practitioner or room (wall clock there)."""
    async with runtime.sessions.begin() as session:
        hours = await resources.set_weekly_hours(
            session, kind=kind, resource_id=resource_id, hours=body
        )
    return [WeeklyHoursIn.model_validate(h) for h in hours]


@router.post("/time-off", status_code=201)
async def add_time_off(body: TimeOffIn, runtime: RuntimeDep, _: DeskDep) -> TimeOffOut:
    async with runtime.sessions.begin() as session:
        record = await resources.add_time_off(session, time_off=body)
    return TimeOffOut.model_validate(record)


@router.get("/locations")
async def list_locations(session: SessionDep, _: StaffDep) -> list[LocationOut]:
    found = await resources.list_locations(session)
    return [LocationOut.model_validate(location) for location in found]


@router.get("/{kind}s/{resource_id}/time-off")
async def list_time_off(
    kind: ResourceKind,
    resource_id: uuid.UUID,
    session: SessionDep,
    _: StaffDep,
    ends_after: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[TimeOffOut]:
    """A practitioner's leave, a room out of use or a location's closures, earliest first
    (``ends_after``: only what is not over by then)."""
    found = await resources.list_time_off(
        session, kind=kind, resource_id=resource_id, ends_after=ends_after, limit=limit
    )
    return [TimeOffOut.model_validate(t) for t in found]
