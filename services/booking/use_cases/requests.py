"""Booking requests: one per session of a cycle, kept in step with plans' events."""

from __future__ import annotations

import uuid
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from booking.adapters.db import Appointment, BookingRequest
from booking.domain.lifecycle import Action
from booking.domain.request import LIVE, RequestAction, RequestStatus
from booking.use_cases import offers
from booking.use_cases.bus import UnitOfWork
from booking.use_cases.invitations import invite_or_hold
from shared.contracts.booking import ACTIVE
from shared.contracts.plans import CycleScheduled, PlanCancelled, WindowsChanged, WindowsWithdrawn
from shared.db import upsert

#: Window changes after which a session is to be booked again.
_REOPENING = ("reopened", "resumed")


async def open_booking_requests(uow: UnitOfWork, *, cycle: CycleScheduled) -> None:
    """One booking request per scheduled session (a re-sent window moves the open request);
    then the first new open session is offered to the patient: a link, or a held slot."""
    session, now = uow.session, uow.now
    known = set(
        await session.scalars(
            sa.select(BookingRequest.session_number).where(BookingRequest.plan_id == cycle.plan_id)
        )
    )
    for window in cycle.sessions:
        values = {
            "target_date": window.target_date,
            "earliest_date": window.earliest_date,
            "latest_date": window.latest_date,
            "total_sessions": window.total_sessions,
        }
        await upsert(
            session,
            BookingRequest,
            key={"plan_id": cycle.plan_id, "session_number": window.session_number},
            values=values,
            insert_only={
                "id": uuid.uuid4(),
                "patient_id": cycle.patient_id,
                "indication": cycle.indication,
                "treatment": cycle.treatment,
                "session_minutes": cycle.session_minutes,
                "numbing_cream_advised": cycle.numbing_cream_advised,
                "preferred_practitioner_id": cycle.preferred_practitioner_id,
                "time_zone": cycle.time_zone,
                "status": RequestStatus.OPEN,
                "created_at": now,
            },
            where=BookingRequest.status == RequestStatus.OPEN,
        )
    await _remember_min_gap(session, cycle.plan_id, cycle.min_gap_days)
    new = sorted(w.session_number for w in cycle.sessions if w.session_number not in known)
    if new:
        first = await session.scalar(
            sa.select(BookingRequest).where(
                BookingRequest.plan_id == cycle.plan_id, BookingRequest.session_number == new[0]
            )
        )
        if first is not None and first.status == RequestStatus.OPEN:
            await invite_or_hold(uow, request=first)
    await uow.commit()


async def move_windows(uow: UnitOfWork, *, change_: WindowsChanged) -> None:
    """Plans moved (or reopened) some windows: the matching requests follow.

    A withdrawn request (paused plan, "resumed") is open again; a request whose
    appointment was cancelled or missed is already open (booking reopens it itself) and
    now gets its new window; a held or booked one keeps its appointment. After a
    reopening or a resume, the first session open again is offered to the patient (a
    link, or a held slot in auto mode), so they can book it inside its new window.
    """
    session = uow.session
    reopened: list[BookingRequest] = []
    changed: list[BookingRequest] = []
    for window in sorted(change_.sessions, key=lambda w: w.session_number):
        request = await session.scalar(
            sa.select(BookingRequest)
            .where(
                BookingRequest.plan_id == change_.plan_id,
                BookingRequest.session_number == window.session_number,
            )
            .with_for_update(key_share=True)
        )
        if request is None or request.status not in LIVE:
            continue
        request.target_date = window.target_date
        request.earliest_date = window.earliest_date
        request.latest_date = window.latest_date
        request.total_sessions = window.total_sessions
        request.plan_changed(RequestAction.REOPEN)
        changed.append(request)
        if request.status == RequestStatus.OPEN:
            reopened.append(request)
    await _remember_min_gap(session, change_.plan_id, change_.min_gap_days)
    await offers.withdraw_for_requests(
        uow, [r.id for r in changed], why="the session's window changed"
    )
    if change_.reason in _REOPENING and reopened:
        await invite_or_hold(uow, request=reopened[0])
    await uow.commit()


async def _remember_min_gap(
    session: AsyncSession, plan_id: uuid.UUID, min_gap_days: int | None
) -> None:
    """The course's minimum gap, on every request of the plan (an event without it, from
    before plans sent it, leaves what is known: booking derives it from the windows)."""
    if min_gap_days is None:
        return
    await session.execute(
        sa.update(BookingRequest)
        .where(BookingRequest.plan_id == plan_id)
        .values(min_gap_days=min_gap_days)
        .execution_options(synchronize_session="fetch")
    )


async def withdraw_windows(uow: UnitOfWork, *, withdrawn: WindowsWithdrawn) -> None:
    """A paused plan: these sessions are not to be booked; their future appointments go."""
    await _close_sessions(
        uow, plan_id=withdrawn.plan_id, numbers=withdrawn.session_numbers,
        action=RequestAction.WITHDRAW, reason="plan paused",
    )  # fmt: skip


async def cancel_plan(uow: UnitOfWork, *, cancelled: PlanCancelled) -> None:
    """A cancelled plan cancels its open requests and its future appointments."""
    await _close_sessions(
        uow, plan_id=cancelled.plan_id, numbers=None, action=RequestAction.CANCEL,
        reason=cancelled.reason or "plan cancelled",
    )  # fmt: skip


async def _close_sessions(
    uow: UnitOfWork,
    *,
    plan_id: uuid.UUID,
    numbers: list[int] | None,
    action: RequestAction,
    reason: str,
) -> None:
    session, now = uow.session, uow.now
    query = sa.select(BookingRequest).where(
        BookingRequest.plan_id == plan_id, BookingRequest.status.in_(LIVE)
    )
    if numbers is not None:
        query = query.where(BookingRequest.session_number.in_(numbers))
    # In session order, as every path placing a session locks them (store.lock_course).
    requests = list(
        await session.scalars(
            query.order_by(BookingRequest.session_number).with_for_update(key_share=True)
        )
    )
    future = await session.scalars(
        sa.select(Appointment.id).where(
            Appointment.booking_request_id.in_([r.id for r in requests]),
            Appointment.status.in_(ACTIVE),
            Appointment.starts_at > now,
        )
    )
    for appointment_id in list(future):
        appointment = await uow.appointment(appointment_id)
        appointment.take_step(Action.CANCEL, now=now, by="plan", reason=reason)
    for request in requests:
        request.plan_changed(action)
    await offers.withdraw_for_requests(uow, [r.id for r in requests], why=reason)
    await uow.commit()


async def list_booking_requests(
    session: AsyncSession,
    *,
    patient_id: uuid.UUID | None = None,
    plan_id: uuid.UUID | None = None,
    status: RequestStatus | None = None,
    closing_by: date | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[BookingRequest]:
    """Requests by patient, plan and status; ``closing_by``: open ones whose window ends
    by that date, the soonest first (the staff's "book these now" list)."""
    query = sa.select(BookingRequest)
    if patient_id is not None:
        query = query.where(BookingRequest.patient_id == patient_id)
    if plan_id is not None:
        query = query.where(BookingRequest.plan_id == plan_id)
    if status is not None:
        query = query.where(BookingRequest.status == status)
    if closing_by is not None:
        query = query.where(
            BookingRequest.status == RequestStatus.OPEN, BookingRequest.latest_date <= closing_by
        ).order_by(BookingRequest.latest_date)
    query = query.order_by(
        BookingRequest.patient_id, BookingRequest.plan_id, BookingRequest.session_number
    )
    return list(await session.scalars(query.limit(limit).offset(offset)))
