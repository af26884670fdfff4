"""Earlier-slot offers, as staff see and steer them: the offers of a day's freed time,
and each patient's choice about offers to move a booked session earlier."""

from __future__ import annotations

import uuid
from datetime import date, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query

from booking.adapters.db import Patient
from booking.api.deps import RuntimeDep, SessionDep, SettingsDep
from booking.api.schemas import EarlierOffersIn, OfferLineOut
from booking.domain.availability import wall_clock
from booking.domain.errors import Unknown
from booking.use_cases import offers
from booking.use_cases.reactions import unit_of_work
from booking.use_cases.schedule import time_zone_of
from shared.api import Day, DeskDep, StaffDep
from shared.problems import problems

router = APIRouter(prefix="/v1", tags=["offers"])


@router.get("/offers", responses=problems(404))
async def offers_of_day(
    session: SessionDep,
    runtime: RuntimeDep,
    settings: SettingsDep,
    _: StaffDep,
    day: Annotated[Day, Query(ge=date(1900, 1, 1), le=date(2999, 12, 31))],
    location_id: uuid.UUID,
) -> list[OfferLineOut]:
    """Every offer of time freed on ``day`` at the location (its midnight to midnight):
    live ones with their claim deadline, and how the others ended."""
    zone = ZoneInfo(
        await time_zone_of(session, location_id=location_id, practitioner_id=None, room_id=None)
    )
    start = wall_clock(day, time(0), zone)
    end = wall_clock(day + timedelta(days=1), time(0), zone)
    uow = unit_of_work(session, settings, runtime.clock.now())
    lines = await offers.offers_of_day(uow, start=start, end=end, location_id=location_id)
    return [OfferLineOut.model_validate(line) for line in lines]


@router.put("/patients/{patient_id}/earlier-offers", responses=problems(404))
async def set_earlier_offers(
    patient_id: uuid.UUID, body: EarlierOffersIn, runtime: RuntimeDep, _: DeskDep
) -> EarlierOffersIn:
    """Whether the patient's booked sessions may be offered freed time earlier in their
    window (null: the default, on for patients who have used a self-booking link)."""
    async with runtime.sessions.begin() as session:
        patient = await session.get(Patient, patient_id, with_for_update=True)
        if patient is None:
            raise Unknown(f"no patient {patient_id}")
        patient.earlier_offers = body.earlier_offers
    return body
