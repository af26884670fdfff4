"""What booking does in-process when its aggregates change: the one place.

Every appointment change is announced to the other services (the outbox, in the same
transaction), its booking request follows it, and in auto mode a booked or completed
session has the course's next one held for the patient; time a cancellation, a run-out
hold or a move frees is offered to the patients who could use it, and an offer whose
time or session is taken meanwhile is withdrawn (use_cases.offers). Use cases never
call these by hand: they record events (booking.domain.events) and the unit of work
(booking.use_cases.bus) hands them here.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from booking.adapters.db import BookingRequest
from booking.domain.events import AppointmentMade, AppointmentMoved, AppointmentStepped, TimeKept
from booking.domain.lifecycle import Action
from booking.domain.request import RequestStatus
from booking.settings import BookingSettings
from booking.use_cases.bus import Reactions, UnitOfWork
from booking.use_cases.invitations import invite_or_hold
from booking.use_cases.offers import offer_freed_time, withdraw_taken
from booking.use_cases.records import EVENT_OF, announce, announce_new
from shared.contracts.booking import AppointmentRescheduled, AppointmentStatus
from shared.db import Db

#: The steps after which the course's next session is offered (auto mode).
_ADVANCING = (Action.BOOK, Action.COMPLETE)
#: The steps that free an appointment's time for someone else (earlier-slot offers).
_FREEING = (Action.CANCEL, Action.EXPIRE)


async def keep_request_in_step(uow: UnitOfWork, event: AppointmentStepped) -> None:
    if event.appointment.booking_request_id is not None:
        request = await uow.request(event.appointment.booking_request_id)
        if request is not None:
            request.follow(event.action)


async def announce_step(uow: UnitOfWork, event: AppointmentStepped) -> None:
    await announce(uow.db, event.appointment, EVENT_OF[event.action], now=uow.now)


async def announce_made(uow: UnitOfWork, event: AppointmentMade) -> None:
    # Most inserts announce themselves; one tried again after expiring a run-out hold
    # leaves it here, after the hold's own event.
    if event.announcement is not None:
        await announce_new(uow.db, event.announcement)


async def announce_move(uow: UnitOfWork, event: AppointmentMoved) -> None:
    await announce(uow.db, event.appointment, AppointmentRescheduled, now=uow.now)


async def offer_freed_time_after_step(uow: UnitOfWork, event: AppointmentStepped) -> None:
    if event.action in _FREEING:
        appointment = event.appointment
        await offer_freed_time(uow, appointment, TimeKept.of(appointment), freed_by=appointment.id)


async def offer_freed_time_after_move(uow: UnitOfWork, event: AppointmentMoved) -> None:
    # Each move frees its own time: one live offer for it, however often the session moves.
    appointment = event.appointment
    freed_by = uuid.uuid5(appointment.id, f"moved to version {appointment.version}")
    await offer_freed_time(uow, appointment, event.left, freed_by=freed_by)


async def offer_next_after_step(uow: UnitOfWork, event: AppointmentStepped) -> None:
    if event.action in _ADVANCING:
        await hold_next_session(uow, event.appointment.booking_request_id)


async def offer_next_after_booking(uow: UnitOfWork, event: AppointmentMade) -> None:
    if event.appointment.status == AppointmentStatus.BOOKED:
        await hold_next_session(uow, event.appointment.booking_request_id)


async def hold_next_session(uow: UnitOfWork, request_id: object) -> None:
    """Auto mode: hold the course's next open session after this one (its practitioner
    and a similar time of day where possible) and text the link to confirm it; a link to
    book it when nothing fits. Nothing when a session of the plan is already held."""
    if uow.settings.booking_mode != "auto" or request_id is None:
        return
    current = await uow.session.get(BookingRequest, request_id)
    if current is None:
        return
    following = await _next_open(uow.session, current)
    if following is not None:
        await invite_or_hold(uow, request=following)


async def _next_open(session: AsyncSession, current: BookingRequest) -> BookingRequest | None:
    plan_requests = list(
        await session.scalars(
            sa.select(BookingRequest)
            .where(BookingRequest.plan_id == current.plan_id)
            .order_by(BookingRequest.session_number)
        )
    )
    if any(r.status == RequestStatus.HELD for r in plan_requests):
        return None
    return next(
        (
            r
            for r in plan_requests
            if r.session_number > current.session_number and r.status == RequestStatus.OPEN
        ),
        None,
    )


#: Event type -> what follows, in order.
REACTIONS: Reactions = {
    AppointmentMade: [announce_made, withdraw_taken, offer_next_after_booking],
    AppointmentStepped: [
        keep_request_in_step,
        announce_step,
        offer_next_after_step,
        offer_freed_time_after_step,
    ],
    AppointmentMoved: [announce_move, withdraw_taken, offer_freed_time_after_move],
}


def unit_of_work(db: Db, settings: BookingSettings, now: datetime) -> UnitOfWork:
    """A unit of work in ``db`` (the edge's transaction) with booking's reactions."""
    return UnitOfWork(db=db, settings=settings, now=now, reactions=REACTIONS)
