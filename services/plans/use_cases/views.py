"""What staff look at: a plan's progress, and the worklist of sessions to get booked."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from plans.adapters.db import Plan, PlanSession, Protocol
from plans.domain.lifecycle import PlanStatus, SessionStatus
from plans.domain.progress import Progress, SessionRecord, progress
from plans.use_cases.common import Page, get_plan


async def plan_progress(
    session: AsyncSession, *, plan_id: uuid.UUID, today: date
) -> tuple[Plan, Progress]:
    """Sessions done, booked, open, missed and overdue, and the next window."""
    plan = await get_plan(session, plan_id=plan_id)
    total = len(plan.sessions)
    records = [
        SessionRecord(s.window(total), SessionStatus(s.status), missed=s.missed_count)
        for s in plan.sessions
    ]
    return plan, progress(records, today=today)


@dataclass(frozen=True)
class WorklistFilter:
    #: Sessions whose window closes within this many days from today.
    within_days: int = 7
    #: Include sessions whose window has already closed without a booking.
    include_overdue: bool = True
    preferred_practitioner_id: uuid.UUID | None = None
    protocol_key: str | None = None


@dataclass(frozen=True)
class WorklistPage:
    items: list[tuple[Plan, PlanSession]]
    total: int


async def worklist(
    session: AsyncSession, *, where: WorklistFilter, today: date, page: Page
) -> WorklistPage:
    """Open sessions of active plans whose window closes soonest: the calls to make today."""
    query = (
        sa.select(PlanSession, Plan)
        .join(Plan, Plan.id == PlanSession.plan_id)
        .where(
            Plan.status == PlanStatus.ACTIVE,
            PlanSession.status == SessionStatus.OPEN,
            PlanSession.latest_date <= today + timedelta(days=where.within_days),
        )
    )
    if not where.include_overdue:
        query = query.where(PlanSession.latest_date >= today)
    if where.preferred_practitioner_id:
        query = query.where(Plan.preferred_practitioner_id == where.preferred_practitioner_id)
    if where.protocol_key:
        query = query.where(
            Plan.protocol_id.in_(sa.select(Protocol.id).where(Protocol.key == where.protocol_key))
        )
    total = await session.scalar(
        sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
    )
    rows = await session.execute(
        query.order_by(PlanSession.latest_date, PlanSession.plan_id, PlanSession.session_number)
        .limit(page.limit)
        .offset(page.offset)
    )
    return WorklistPage(
        items=[(plan, planned) for planned, plan in rows.unique()], total=total or 0
    )
