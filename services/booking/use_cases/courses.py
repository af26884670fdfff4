"""Booking the whole remaining course of a plan at once: all of it, or none of it."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from booking.adapters.db import Appointment, BookingRequest, Location, Practitioner
from booking.adapters.store import load_course, lock_plan
from booking.domain.availability import local_date
from booking.domain.course import Choice, Placement
from booking.domain.errors import BookingRefused, StateConflict, UnsuitableChoice
from booking.domain.request import RequestStatus
from booking.use_cases.bus import UnitOfWork
from booking.use_cases.records import get_or_404
from booking.use_cases.reservations import reserve


async def book_course(
    uow: UnitOfWork, *, plan_id: uuid.UUID, choices: list[Choice], by: str
) -> list[Appointment]:
    """Book every open session of a plan in one transaction.

    All of the plan's open sessions must be given, each inside its own window and far
    enough from its neighbours (booked ones included); each is then reserved against
    PostgreSQL's constraints. One failure (a taken time names its session) rolls back
    every booking of the course.
    """
    session = uow.session
    requests = await lock_plan(session, plan_id)
    if not requests:
        raise UnsuitableChoice(f"no booking requests for plan {plan_id}")
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
            appointments.append(await reserve(uow, choice=choice, by=by))
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
    course = await load_course(session, requests[0].plan_id)
    course.check_sessions(placements)
