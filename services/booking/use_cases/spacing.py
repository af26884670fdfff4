"""The spacing rule against the database: a course's active sessions and its minimum gap.

Every path that places a session locks the course first (all of the plan's booking
requests, in session order, as whole-course booking does), so two sessions of one course
placed at the same moment are judged one after the other, each seeing the other.
"""

from __future__ import annotations

import uuid
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from booking.db import Appointment, BookingRequest, Location
from booking.domain.appointments import local_date
from booking.domain.course import (
    Allowed,
    GapBreach,
    Placement,
    Window,
    allowed_days,
    check_gap,
    derive_min_gap,
)
from booking.domain.errors import StateConflict
from shared.contracts.booking import ACTIVE


async def lock_plan(
    session: AsyncSession, plan_id: uuid.UUID | sa.ScalarSelect[uuid.UUID]
) -> list[BookingRequest]:
    """Lock every booking request of the plan, in session order, and return them."""
    requests = await session.scalars(
        sa.select(BookingRequest)
        .where(BookingRequest.plan_id == plan_id)
        .order_by(BookingRequest.session_number)
        .with_for_update()
    )
    return list(requests)


async def lock_course(session: AsyncSession, request_id: uuid.UUID) -> BookingRequest | None:
    """Lock every booking request of ``request_id``'s plan, in session order; that one."""
    plan = sa.select(BookingRequest.plan_id).where(BookingRequest.id == request_id)
    requests = await lock_plan(session, plan.scalar_subquery())
    return next((r for r in requests if r.id == request_id), None)


async def course_of(session: AsyncSession, plan_id: uuid.UUID) -> tuple[int, list[Placement]]:
    """A plan's course: its minimum gap (the protocol's as plans sent it, else derived
    from the windows) and its sessions' active placements (local dates where they are)."""
    rows = (
        await session.execute(
            sa.select(
                BookingRequest.session_number,
                BookingRequest.target_date,
                BookingRequest.earliest_date,
                BookingRequest.latest_date,
                BookingRequest.min_gap_days,
                Appointment.starts_at,
                Location.time_zone,
            )
            .select_from(BookingRequest)
            .outerjoin(
                Appointment,
                sa.and_(
                    Appointment.booking_request_id == BookingRequest.id,
                    Appointment.status.in_(ACTIVE),
                ),
            )
            .outerjoin(Location, Location.id == Appointment.location_id)
            .where(BookingRequest.plan_id == plan_id)
        )
    ).all()
    placed = [
        Placement(row.session_number, local_date(row.starts_at, row.time_zone))
        for row in rows
        if row.starts_at is not None
    ]
    gap = next((row.min_gap_days for row in rows if row.min_gap_days is not None), None)
    if gap is None:
        gap = derive_min_gap(
            [Window(r.session_number, r.target_date, r.earliest_date, r.latest_date) for r in rows]
        )
    return gap, placed


async def allowed_for(session: AsyncSession, request: BookingRequest) -> Allowed:
    """The days ``request``'s session may be on, given the course's active sessions."""
    gap, placed = await course_of(session, request.plan_id)
    return allowed_days(request.session_number, placed, gap)


async def check_spacing(session: AsyncSession, request: BookingRequest, day: date) -> None:
    """409 naming the neighbour and the allowed dates when ``day`` breaks the gap."""
    gap, placed = await course_of(session, request.plan_id)
    breach = check_gap(Placement(request.session_number, day), placed, gap)
    if breach is not None:
        raise refusal(breach)


def refusal(breach: GapBreach) -> StateConflict:
    """The 409 for a session too close to a neighbour of its course."""
    return StateConflict(
        str(breach),
        conflict="min_gap",
        session_number=breach.placement.session_number,
        neighbour_session_number=breach.neighbour.session_number,
        neighbour_date=breach.neighbour.day.isoformat(),
        min_gap_days=breach.min_gap_days,
        earliest_allowed_date=breach.earliest.isoformat() if breach.earliest else None,
        latest_allowed_date=breach.latest.isoformat() if breach.latest else None,
    )
