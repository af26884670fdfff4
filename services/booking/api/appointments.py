"""Booking requests and appointments, for staff."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import APIRouter

from booking import use_cases
from booking.schemas import AppointmentIn, AppointmentOut, BookingRequestOut
from booking.settings import BookingSettings
from shared.api import DeskDep, RuntimeDep, StaffDep

router = APIRouter(prefix="/v1", tags=["appointments"])


@router.get("/booking-requests")
async def list_booking_requests(
    runtime: RuntimeDep,
    _: StaffDep,
    patient_id: uuid.UUID | None = None,
    status: str | None = None,
) -> list[BookingRequestOut]:
    """Sessions waiting to be booked (or booked), one per session of each cycle."""
    async with runtime.sessions() as session:
        requests = await use_cases.list_booking_requests(
            session, patient_id=patient_id, status=status
        )
    return [BookingRequestOut.model_validate(r) for r in requests]


@router.post("/appointments", status_code=201)
async def book_appointment(body: AppointmentIn, runtime: RuntimeDep, _: DeskDep) -> AppointmentOut:
    """Book a session; 409 names what is already taken at that time."""
    settings = runtime.settings
    assert isinstance(settings, BookingSettings)
    async with runtime.sessions.begin() as session:
        appointment = await use_cases.book_appointment(
            session,
            booking=body,
            buffer_before=timedelta(minutes=settings.buffer_before_minutes),
            buffer_after=timedelta(minutes=settings.buffer_after_minutes),
            now=runtime.clock.now(),
        )
    return AppointmentOut.model_validate(appointment)


@router.get("/appointments/{appointment_id}")
async def get_appointment(
    appointment_id: uuid.UUID, runtime: RuntimeDep, _: StaffDep
) -> AppointmentOut:
    async with runtime.sessions() as session:
        appointment = await use_cases.get_appointment(session, appointment_id=appointment_id)
    return AppointmentOut.model_validate(appointment)
