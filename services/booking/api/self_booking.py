"""Self-booking: a patient, through the signed link texted to them, books their own sessions.

The link's token travels in the ``X-Patient-Token`` header (the patient's page reads it
from the link), opens that patient's requests and appointments and nothing else, expires,
and is rate-limited per link.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from booking.adapters.db import Appointment, BookingRequest, idempotency_keys
from booking.api.deps import RuntimeDep, SessionDep, SettingsDep
from booking.api.requests import slots_out
from booking.api.schemas import (
    AppointmentOut,
    BookingRequestOut,
    CourseIn,
    CourseProposalOut,
    FreeDayOut,
    HoldIn,
    LinkOfferOut,
    MovedOut,
    MoveIn,
    OfferOut,
    ProposedSessionOut,
    ShiftOut,
    SlotOut,
)
from booking.domain.errors import BookingRefused
from booking.domain.lifecycle import Action
from booking.domain.offers import OfferClosed
from booking.domain.request import RequestStatus
from booking.use_cases import availability, courses, moves, offers, reservations, steps
from booking.use_cases.reactions import unit_of_work
from booking.use_cases.requests import list_booking_requests
from booking.use_cases.self_booking import open_link
from shared.api import Day
from shared.auth import hash_patient_token
from shared.contracts.booking import AppointmentStatus
from shared.idempotency import IdempotentDep
from shared.problems import NotFound, may_answer, problems

router = APIRouter(prefix="/v1/self-booking", tags=["self-booking"])

#: Free times one answer lists: the window's first ones, a day's all, a window's all.
SLOT_LIMIT, DAY_LIMIT, WINDOW_LIMIT = 200, 2_000, 20_000

PATIENT = "patient"


LinkToken = Annotated[str, Header(alias="X-Patient-Token", min_length=16, max_length=200)]


@may_answer(401, 429)
async def link_patient(runtime: RuntimeDep, settings: SettingsDep, token: LinkToken) -> uuid.UUID:
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


@router.get("/requests/{request_id}/slots", responses=problems(404))
async def my_slots(
    request_id: uuid.UUID,
    session: SessionDep,
    runtime: RuntimeDep,
    settings: SettingsDep,
    patient_id: PatientDep,
    preferred_only: bool = False,
    day: Annotated[
        Day | None,
        Query(description="only this day (the patient's own date): every time of it"),
    ] = None,
) -> list[SlotOut]:
    """Free times inside the session's window, in the patient's own time zone too; their
    usual practitioner's first, or theirs alone with ``preferred_only=true``. Without
    ``day``, at most 200 (``/days`` counts every day's); with it, all of that day's."""
    request = await _my_request(session, request_id, patient_id)
    between = (day - timedelta(days=1), day + timedelta(days=1)) if day else None
    offers = await availability.find_slots(
        session, request=request, settings=settings, now=runtime.clock.now(),
        preferred_only=preferred_only, limit=SLOT_LIMIT if day is None else DAY_LIMIT,
        between=between,
    )  # fmt: skip
    slots = await slots_out(session, request, offers)
    return [s for s in slots if day is None or s.patient_starts_at.date() == day]


@router.get("/requests/{request_id}/days", responses=problems(404))
async def my_days(
    request_id: uuid.UUID,
    session: SessionDep,
    runtime: RuntimeDep,
    settings: SettingsDep,
    patient_id: PatientDep,
) -> list[FreeDayOut]:
    """How many times are free on each day of the session's window that has any (the
    patient's own dates), every time counted: the page's day picker."""
    request = await _my_request(session, request_id, patient_id)
    offers = await availability.find_slots(
        session, request=request, settings=settings, now=runtime.clock.now(), limit=WINDOW_LIMIT
    )
    counted = Counter(s.patient_starts_at.date() for s in await slots_out(session, request, offers))
    return [FreeDayOut(day=d, free=n) for d, n in sorted(counted.items())]


async def _my_request(
    session: AsyncSession, request_id: uuid.UUID, patient_id: uuid.UUID
) -> BookingRequest:
    request = await session.get(BookingRequest, request_id)
    if request is None or request.patient_id != patient_id:
        raise NotFound(f"no booking request {request_id}")
    return request


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
) -> Response:
    """Hold a slot for a few minutes while the patient confirms it."""
    now = runtime.clock.now()
    choice = body.choice()

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


@router.get("/offer", responses=problems(404))
async def my_offer(
    runtime: RuntimeDep, settings: SettingsDep, patient_id: PatientDep, token: LinkToken
) -> LinkOfferOut:
    """The earlier-slot offer this link was texted for, live or not (404: a link of no
    offer). A closed one says how it ended; the page then shows what else is free."""
    async with runtime.sessions() as session:
        uow = unit_of_work(session, settings, runtime.clock.now())
        offer = await offers.offer_of_link(uow, token_hash=hash_patient_token(token))
        return LinkOfferOut.model_validate(await offers.shown(uow, offer))


@router.post("/offer/claim", responses=problems(404, 409, 422))
async def claim_offer(
    runtime: RuntimeDep, settings: SettingsDep, patient_id: PatientDep, token: LinkToken
) -> AppointmentOut:
    """Take the offer: the session is booked into the freed time (or moved to it). 409
    when the offer has ended or the time was taken meanwhile, saying which."""
    token_hash = hash_patient_token(token)
    try:
        async with runtime.sessions.begin() as session:
            uow = unit_of_work(session, settings, runtime.clock.now())
            offer = await offers.offer_of_link(uow, token_hash=token_hash)
            appointment = await offers.claim(uow, offer_id=offer.id, patient_id=patient_id)
    except BookingRefused as refused:
        if isinstance(refused, OfferClosed):
            raise
        # Refused where it was to be booked (the time taken a moment ago): the offer ends
        # here rather than stay live until its claim window passes.
        async with runtime.sessions.begin() as session:
            uow = unit_of_work(session, settings, runtime.clock.now())
            await offers.withdraw_if_taken(uow, token_hash=token_hash)
        raise
    return AppointmentOut.model_validate(appointment)


@router.post("/offer/decline", responses=problems(404, 409))
async def decline_offer(
    runtime: RuntimeDep, settings: SettingsDep, patient_id: PatientDep, token: LinkToken
) -> OfferOut:
    """Pass on the offer: the next patient gets the time."""
    async with runtime.sessions.begin() as session:
        uow = unit_of_work(session, settings, runtime.clock.now())
        offer = await offers.offer_of_link(uow, token_hash=hash_patient_token(token))
        await offers.decline(
            uow, offer_id=offer.id, patient_id=patient_id, reason="the patient passed on it"
        )
        return OfferOut.model_validate(offer)


@router.get("/appointments/{appointment_id}/rest-of-course", responses=problems(404))
async def propose_rest_of_course(
    appointment_id: uuid.UUID,
    session: SessionDep,
    runtime: RuntimeDep,
    settings: SettingsDep,
    patient_id: PatientDep,
) -> CourseProposalOut:
    """The course's open sessions at this appointment's weekday and time, with its
    practitioner; where that time is taken, the nearest free one inside the session's
    window (``as_wanted`` false). Nothing is held: booking them is one step after."""
    uow = unit_of_work(session, settings, runtime.clock.now())
    proposal = await courses.propose_rest(uow, appointment_id=appointment_id, patient_id=patient_id)
    anchor = await session.get(Appointment, appointment_id)
    request = await session.get(BookingRequest, anchor.booking_request_id) if anchor else None
    assert request is not None
    slots = await slots_out(session, request, [p.offer for p in proposal if p.offer])
    by_start = {(s.starts_at, s.practitioner_id): s for s in slots}
    return CourseProposalOut(
        plan_id=request.plan_id,
        sessions=[
            ProposedSessionOut(
                booking_request_id=p.booking_request_id,
                session_number=p.session_number,
                slot=by_start[p.offer.starts_at, p.offer.practitioner_id] if p.offer else None,
                wanted_starts_at=p.wanted,
                as_wanted=p.as_wanted,
            )
            for p in proposal
        ],
        complete=all(p.offer for p in proposal),
    )


@router.post(
    "/plans/{plan_id}/course",
    status_code=201,
    response_model=list[AppointmentOut],
    responses=problems(404, 409, 422),
)
async def book_rest_of_course(
    plan_id: uuid.UUID,
    body: CourseIn,
    runtime: RuntimeDep,
    settings: SettingsDep,
    patient_id: PatientDep,
    once: IdempotentDep,
) -> Response:
    """Book every open session of the patient's plan at once, as proposed (or as they
    chose): all of them, or none when one is refused (the answer names it)."""
    choices = body.choices()

    async def create() -> list[AppointmentOut]:
        booked = await courses.book_course(
            unit_of_work(session, settings, runtime.clock.now()),
            plan_id=plan_id, choices=choices, by=PATIENT, patient_id=patient_id,
        )  # fmt: skip
        return [AppointmentOut.model_validate(a) for a in booked]

    async with runtime.sessions.begin() as session:
        return await once.create(
            session, idempotency_keys, scope=f"course:{patient_id}:{plan_id}", create=create
        )
