"""Booking requests for staff: lists, slots, invitations, booking a whole course."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from booking.adapters import store
from booking.adapters.db import BookingRequest, Patient, idempotency_keys
from booking.api.deps import RuntimeDep, SessionDep, SettingsDep, staff_name
from booking.api.schemas import AppointmentOut, BookingRequestOut, CourseIn, SlotOut
from booking.domain.availability import Offer
from booking.domain.request import RequestStatus
from booking.use_cases import availability, courses, invitations
from booking.use_cases import requests as use_cases
from booking.use_cases.reactions import unit_of_work
from booking.use_cases.records import get_or_404
from shared.api import DeskDep, Offset, StaffDep
from shared.idempotency import IdempotentDep
from shared.problems import NotFound

router = APIRouter(prefix="/v1", tags=["booking requests"])

Limit = Annotated[int, Query(ge=1, le=500)]


@router.get("/booking-requests")
async def list_booking_requests(
    session: SessionDep,
    runtime: RuntimeDep,
    _: StaffDep,
    patient_id: uuid.UUID | None = None,
    plan_id: uuid.UUID | None = None,
    status: RequestStatus | None = None,
    closing_within_days: Annotated[int | None, Query(ge=0, le=365)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[BookingRequestOut]:
    """Sessions waiting to be booked (or booked), one per session of each cycle.
    ``closing_within_days``: the open ones whose window closes that soon, soonest first."""
    now = runtime.clock.now()
    closing_by = None
    if closing_within_days is not None:
        closing_by = now.date() + timedelta(days=closing_within_days)
    found = await use_cases.list_booking_requests(
        session,
        patient_id=patient_id,
        plan_id=plan_id,
        status=status,
        closing_by=closing_by,
        limit=limit,
        offset=offset,
    )
    return [BookingRequestOut.model_validate(r) for r in found]


@router.get("/booking-requests/{request_id}/slots")
async def find_slots(
    request_id: uuid.UUID,
    session: SessionDep,
    runtime: RuntimeDep,
    settings: SettingsDep,
    _: StaffDep,
    practitioner_id: uuid.UUID | None = None,
    preferred_only: bool = False,
    limit: Limit = 100,
) -> list[SlotOut]:
    """Free start times inside the session's window, at the location and in the patient's
    own time zone as well as UTC; the request's preferred practitioner's first, or theirs
    alone with ``preferred_only=true``."""
    request = await get_or_404(session, BookingRequest, request_id, "booking request")
    offers = await availability.find_slots(
        session,
        request=request,
        settings=settings,
        now=runtime.clock.now(),
        practitioner_id=practitioner_id,
        preferred_only=preferred_only,
        limit=limit,
    )
    return await slots_out(session, request, offers)


async def slots_out(
    session: AsyncSession, request: BookingRequest, offers: list[Offer]
) -> list[SlotOut]:
    """Each offer at UTC, at its location and where the patient lives."""
    patient = await session.get(Patient, request.patient_id)
    patient_zone = ZoneInfo(patient.time_zone if patient else request.time_zone)
    zones: dict[uuid.UUID, ZoneInfo] = {}
    out = []
    for offer in offers:
        if offer.practitioner_id not in zones:  # kept per process: no round trip
            practitioner = await store.practitioner(session, offer.practitioner_id)
            location = await store.location(session, practitioner.location_id)
            zones[offer.practitioner_id] = ZoneInfo(location.time_zone)
        out.append(
            SlotOut(
                starts_at=offer.starts_at,
                ends_at=offer.ends_at,
                local_starts_at=offer.starts_at.astimezone(zones[offer.practitioner_id]),
                patient_starts_at=offer.starts_at.astimezone(patient_zone),
                practitioner_id=offer.practitioner_id,
                room_id=offer.room_id,
            )
        )
    return out


@router.post("/booking-requests/{request_id}/invitations", status_code=201)
async def invite(
    request_id: uuid.UUID, runtime: RuntimeDep, settings: SettingsDep, _: DeskDep
) -> dict[str, str]:
    """Text the patient a fresh self-booking link (notify sends it)."""
    async with runtime.sessions.begin() as session:
        request = await get_or_404(session, BookingRequest, request_id, "booking request")
        sent = await invitations.issue_invitation(
            session, request=request, settings=settings, now=runtime.clock.now()
        )
    return {"link_expires_at": sent.link_expires_at.isoformat()}


@router.post("/plans/{plan_id}/course", status_code=201, response_model=list[AppointmentOut])
async def book_course(
    plan_id: uuid.UUID,
    body: CourseIn,
    runtime: RuntimeDep,
    settings: SettingsDep,
    user: DeskDep,
    once: IdempotentDep,
) -> Response:
    """Book every open session of a plan in one transaction: all of them, or none."""
    choices = body.choices()

    async def create() -> list[AppointmentOut]:
        booked = await courses.book_course(
            unit_of_work(session, settings, runtime.clock.now()),
            plan_id=plan_id,
            choices=choices,
            by=staff_name(user),
        )
        return [AppointmentOut.model_validate(a) for a in booked]

    async with runtime.sessions.begin() as session:
        known = sa.select(BookingRequest.id).where(BookingRequest.plan_id == plan_id).limit(1)
        if await session.scalar(known) is None:
            raise NotFound(f"no plan {plan_id}: booking has no booking request of it")
        return await once.create(
            session,
            idempotency_keys,
            scope=f"course:{plan_id}",
            create=create,
        )
