"""The spacing rule against the database: a course's active sessions and its minimum gap.

Every path that places a session locks the course first (all of the plan's booking
requests, in session order, as whole-course booking does), so two sessions of one course
placed at the same moment are judged one after the other, each seeing the other.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from booking.adapters.db import Appointment, BookingRequest, Location
from booking.domain.appointments import local_date
from booking.domain.course import Course, Placement, derive_min_gap
from shared.contracts.booking import ACTIVE
from shared.contracts.plans import SessionWindow


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


async def load_course(session: AsyncSession, plan_id: uuid.UUID) -> Course:
    """A plan's course: its windows, its sessions' active placements (local dates where
    they are) and its minimum gap (the protocol's as plans sent it, else derived from the
    windows). The caller locked it first (:func:`lock_course`) when it will place one."""
    rows = (
        await session.execute(
            sa.select(
                BookingRequest.session_number,
                BookingRequest.total_sessions,
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
    windows = [
        SessionWindow(
            session_number=row.session_number, total_sessions=row.total_sessions,
            target_date=row.target_date, earliest_date=row.earliest_date,
            latest_date=row.latest_date,
        )
        for row in rows
    ]  # fmt: skip
    placed = [
        Placement(row.session_number, local_date(row.starts_at, row.time_zone))
        for row in rows
        if row.starts_at is not None
    ]
    gap = next((row.min_gap_days for row in rows if row.min_gap_days is not None), None)
    return Course(windows, placed, gap if gap is not None else derive_min_gap(windows))
