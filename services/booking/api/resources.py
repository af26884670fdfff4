"""The clinic's resources: locations, practitioners, rooms."""

from __future__ import annotations

from fastapi import APIRouter

from booking import use_cases
from booking.schemas import (
    LocationIn,
    LocationOut,
    PractitionerIn,
    PractitionerOut,
    RoomIn,
    RoomOut,
)
from shared.api import AdminDep, RuntimeDep

router = APIRouter(prefix="/v1", tags=["resources"])


@router.post("/locations", status_code=201)
async def create_location(body: LocationIn, runtime: RuntimeDep, _: AdminDep) -> LocationOut:
    async with runtime.sessions.begin() as session:
        location = await use_cases.create_location(session, location=body)
    return LocationOut.model_validate(location)


@router.post("/practitioners", status_code=201)
async def create_practitioner(
    body: PractitionerIn, runtime: RuntimeDep, _: AdminDep
) -> PractitionerOut:
    async with runtime.sessions.begin() as session:
        practitioner = await use_cases.create_practitioner(session, practitioner=body)
    return PractitionerOut.model_validate(practitioner)


@router.post("/rooms", status_code=201)
async def create_room(body: RoomIn, runtime: RuntimeDep, _: AdminDep) -> RoomOut:
    async with runtime.sessions.begin() as session:
        room = await use_cases.create_room(session, room=body)
    return RoomOut.model_validate(room)
