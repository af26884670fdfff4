"""Booking the whole remaining course of a plan at once: all of it, or none of it; and
the proposal a patient's page shows before they do (``domain.proposal``)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from booking.adapters import store
from booking.adapters.db import Appointment, BookingRequest, Location, Practitioner
from booking.domain.availability import local_date
from booking.domain.course import Choice, Placement
from booking.domain.errors import BookingRefused, StateConflict, Unknown, UnsuitableChoice
from booking.domain.proposal import Proposed, closest, wanted_start
from booking.domain.request import RequestStatus
from booking.use_cases.availability import find_slots
from booking.use_cases.bus import UnitOfWork
from booking.use_cases.records import get_or_404
from booking.use_cases.reservations import reserve

#: Free times looked at per session for a proposal: every one of its window.
PROPOSAL_SEARCH = 5000


async def book_course(
    uow: UnitOfWork,
    *,
    plan_id: uuid.UUID,
    choices: list[Choice],
    by: str,
    patient_id: uuid.UUID | None = None,
) -> list[Appointment]:
    """Book every open session of a plan in one transaction.

    All of the plan's open sessions must be given, each inside its own window and far
    enough from its neighbours (booked ones included); each is then reserved against
    PostgreSQL's constraints. One failure (a taken time names its session) rolls back
    every booking of the course. A patient (``patient_id``) books only their own plan,
    under the rules of their own bookings (notice, horizon).
    """
    session = uow.session
    requests = await store.lock_plan(session, plan_id)
    if not requests or (patient_id is not None and requests[0].patient_id != patient_id):
        raise Unknown(f"no booking requests for plan {plan_id}")
    by_id = {r.id: r for r in requests}
    open_ids = {r.id for r in requests if r.status == RequestStatus.OPEN}
    given = [c.booking_request_id for c in choices]
    if len(set(given)) != len(given):
        raise UnsuitableChoice("a session is given twice")
    strangers = set(given) - set(by_id)
    if strangers:
        raise UnsuitableChoice(f"not sessions of plan {plan_id}: {sorted(map(str, strangers))}")
    missing = sorted(by_id[i].session_number for i in open_ids - set(given))
    if missing:
        raise UnsuitableChoice(f"the course is booked whole: session(s) {missing} are missing")
    not_open = sorted(by_id[i].session_number for i in set(given) - open_ids)
    if not_open:
        raise StateConflict(f"session(s) {not_open} are not open for booking")
    await _check_intervals(session, requests, choices)
    appointments = []
    for choice in sorted(choices, key=lambda c: by_id[c.booking_request_id].session_number):
        try:
            appointments.append(await reserve(uow, choice=choice, by=by, patient_id=patient_id))
        except BookingRefused as refused:
            number = by_id[choice.booking_request_id].session_number
            refused.detail = f"session {number}: {refused.detail}; nothing was booked"
            refused.facts["session_number"] = number
            raise
    await uow.commit()
    return appointments


async def _check_intervals(
    session: AsyncSession, requests: list[BookingRequest], choices: list[Choice]
) -> None:
    """Every chosen day inside its window (422) and at least the course's minimum gap from
    its neighbours, booked ones too (409 naming the neighbour: the spacing rule)."""
    practitioner_ids = {c.practitioner_id for c in choices}
    zones = dict(
        (
            await session.execute(
                sa.select(Practitioner.id, Location.time_zone)
                .join(Location, Location.id == Practitioner.location_id)
                .where(Practitioner.id.in_(practitioner_ids))
            )
        ).all()
    )
    by_id = {r.id: r for r in requests}
    placements = []
    for choice in choices:
        zone = zones.get(choice.practitioner_id)
        if zone is None:
            await get_or_404(session, Practitioner, choice.practitioner_id, "practitioner")
            raise AssertionError("unreachable")
        placements.append(
            Placement(
                by_id[choice.booking_request_id].session_number, local_date(choice.starts_at, zone)
            )
        )
    course = await store.load_course(session, requests[0].plan_id)
    course.check_sessions(placements)


async def propose_rest(
    uow: UnitOfWork, *, appointment_id: uuid.UUID, patient_id: uuid.UUID
) -> list[Proposed]:
    """The course's open sessions at the booked ``appointment``'s weekday and time with
    its practitioner, each in its own window and the spacing rule kept between them; where
    that time is taken, the nearest free one (an exception the page shows). A session
    with no free time at all has no offer: the course cannot be booked whole."""
    session, settings, now = uow.session, uow.settings, uow.now
    anchor = await session.get(Appointment, appointment_id)
    if anchor is None or anchor.patient_id != patient_id or anchor.booking_request_id is None:
        raise Unknown(f"no appointment {appointment_id}")
    booked = await session.get(BookingRequest, anchor.booking_request_id)
    assert booked is not None
    zone = (await store.location(session, anchor.location_id)).time_zone
    open_requests = await session.scalars(
        sa.select(BookingRequest)
        .where(
            BookingRequest.plan_id == booked.plan_id, BookingRequest.status == RequestStatus.OPEN
        )
        .order_by(BookingRequest.session_number)
    )
    placed: list[Placement] = []
    proposal = []
    for request in open_requests:
        wanted = wanted_start(
            anchor.starts_at, zone=zone, earliest=request.earliest_date,
            latest=request.latest_date, target=request.target_date,
        )  # fmt: skip
        offers = await find_slots(
            session, request=request, settings=settings, now=now, limit=PROPOSAL_SEARCH,
            also_placed=placed,
        )  # fmt: skip
        picked = closest(
            offers, wanted=wanted or anchor.starts_at, practitioner_id=anchor.practitioner_id
        )
        offer, as_wanted = picked if picked else (None, False)
        if offer is not None:
            placed.append(Placement(request.session_number, local_date(offer.starts_at, zone)))
        proposal.append(
            Proposed(
                request.id, request.session_number, offer, wanted, as_wanted and wanted is not None
            )
        )
    return proposal
