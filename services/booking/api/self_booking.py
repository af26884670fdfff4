"""Self-booking: a patient, through the signed link texted to them, books their own sessions.

The link's token travels in the ``X-Patient-Token`` header (the patient's page reads it
from the link), opens that patient's requests and appointments and nothing else, expires,
and is rate-limited per link.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse

from booking.adapters.db import Appointment, BookingRequest, idempotency_keys
from booking.api.deps import RuntimeDep, SessionDep, SettingsDep
from booking.api.requests import slots_out
from booking.api.schemas import (
    AppointmentOut,
    BookingRequestOut,
    HoldIn,
    MovedOut,
    MoveIn,
    ShiftOut,
    SlotOut,
)
from booking.domain.course import Choice
from booking.domain.lifecycle import Action
from booking.domain.request import RequestStatus
from booking.use_cases import availability, moves, reservations, steps
from booking.use_cases.reactions import unit_of_work
from booking.use_cases.requests import list_booking_requests
from booking.use_cases.self_booking import open_link
from shared.contracts.booking import AppointmentStatus
from shared.idempotency import IdempotentDep
from shared.problems import NotFound, may_answer

router = APIRouter(prefix="/v1/self-booking", tags=["self-booking"])

PATIENT = "patient"


@may_answer(401, 429)
async def link_patient(
    runtime: RuntimeDep,
    settings: SettingsDep,
    token: Annotated[str, Header(alias="X-Patient-Token", min_length=16, max_length=200)],
) -> uuid.UUID:
    """The patient the link opens (every call counts against the link's rate limit)."""
    return await open_link(
        runtime.sessions,
        token=token,
        limit=settings.link_requests_per_minute,
        now=runtime.clock.now(),
    )


PatientDep = Annotated[uuid.UUID, Depends(link_patient)]


@router.get("/requests")
async def my_requests(session: SessionDep, patient_id: PatientDep) -> list[BookingRequestOut]:
    """The patient's sessions still to book."""
    found = await list_booking_requests(session, patient_id=patient_id, status=RequestStatus.OPEN)
    return [BookingRequestOut.model_validate(r) for r in found]


@router.get("/requests/{request_id}/slots")
async def my_slots(
    request_id: uuid.UUID,
    session: SessionDep,
    runtime: RuntimeDep,
    settings: SettingsDep,
    patient_id: PatientDep,
    preferred_only: bool = False,
) -> list[SlotOut]:
    """Free times inside the session's window, in the patient's own time zone too; their
    usual practitioner's first, or theirs alone with ``preferred_only=true``."""
    request = await session.get(BookingRequest, request_id)
    if request is None or request.patient_id != patient_id:
        raise NotFound(f"no booking request {request_id}")
    offers = await availability.find_slots(
        session,
        request=request,
        settings=settings,
        now=runtime.clock.now(),
        preferred_only=preferred_only,
        limit=200,
    )
    return await slots_out(session, request, offers)


@router.get("/appointments")
async def my_appointments(
    session: SessionDep, runtime: RuntimeDep, patient_id: PatientDep
) -> list[AppointmentOut]:
    since = runtime.clock.now()
    found = await session.scalars(
        sa.select(Appointment)
        .where(Appointment.patient_id == patient_id, Appointment.starts_at >= since)
        .order_by(Appointment.starts_at)
        .limit(100)
    )
    return [AppointmentOut.model_validate(a) for a in found]


@router.post("/holds", status_code=201, response_model=AppointmentOut)
async def hold(
    body: HoldIn,
    runtime: RuntimeDep,
    settings: SettingsDep,
    patient_id: PatientDep,
    once: IdempotentDep,
) -> JSONResponse:
    """Hold a slot for a few minutes while the patient confirms it."""
    now = runtime.clock.now()
    choice = Choice(body.booking_request_id, body.practitioner_id, body.room_id, body.starts_at)

    async def create() -> AppointmentOut:
        appointment = await reservations.book_session(
            unit_of_work(session, settings, now),
            choice=choice,
            by=PATIENT,
            hold_until=now + settings.hold_ttl,
            patient_id=patient_id,
        )
        return AppointmentOut.model_validate(appointment)

    async with runtime.sessions.begin() as session:
        return await once.create(
            session,
            idempotency_keys,
            scope=f"hold:{patient_id}",
            create=create,
        )


@router.post("/appointments/{appointment_id}/confirm")
async def confirm(
    appointment_id: uuid.UUID, runtime: RuntimeDep, settings: SettingsDep, patient_id: PatientDep
) -> AppointmentOut:
    """A held slot becomes booked (if the hold still stands); a booked one, confirmed."""
    async with runtime.sessions.begin() as session:
        uow = unit_of_work(session, settings, runtime.clock.now())
        current = await uow.appointment(appointment_id, patient_id=patient_id)
        action = Action.BOOK if current.status == AppointmentStatus.HELD else Action.CONFIRM
        appointment = await steps.take_step(
            uow, appointment_id=appointment_id, action=action, by=PATIENT, patient_id=patient_id
        )
    return AppointmentOut.model_validate(appointment)


@router.post("/appointments/{appointment_id}/cancel")
async def cancel(
    appointment_id: uuid.UUID, runtime: RuntimeDep, settings: SettingsDep, patient_id: PatientDep
) -> AppointmentOut:
    """Cancel, unless the session is closer than the clinic's cut-off (then call)."""
    async with runtime.sessions.begin() as session:
        appointment = await steps.take_step(
            unit_of_work(session, settings, runtime.clock.now()),
            appointment_id=appointment_id,
            action=Action.CANCEL,
            by=PATIENT,
            patient_id=patient_id,
            cutoff=timedelta(hours=settings.patient_change_cutoff_hours),
        )
    return AppointmentOut.model_validate(appointment)


@router.post("/appointments/{appointment_id}/reschedule")
async def reschedule(
    appointment_id: uuid.UUID,
    body: MoveIn,
    runtime: RuntimeDep,
    settings: SettingsDep,
    patient_id: PatientDep,
) -> MovedOut:
    """Move the session inside its window, unless it is closer than the cut-off."""
    move = moves.Move(
        appointment_id, body.starts_at, body.practitioner_id, body.room_id, body.expected_version
    )
    async with runtime.sessions.begin() as session:
        appointment, shifts = await moves.reschedule(
            unit_of_work(session, settings, runtime.clock.now()),
            move=move,
            by=PATIENT,
            patient_id=patient_id,
        )
    return MovedOut.model_validate(
        {
            **AppointmentOut.model_validate(appointment).model_dump(),
            "later_sessions_to_move": [ShiftOut(**vars(s)) for s in shifts],
        }
    )
