"""What the use cases share: pagination, locking a plan, the clinic's today, staging events."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from plans.adapters.db import Plan, outbox
from plans.domain.cycle import clinic_date
from plans.domain.lifecycle import Action, SessionStatus, TransitionRefused, require
from plans.domain.replanning import Replan, SessionState
from shared.contracts.plans import SessionWindow
from shared.events import Payload, new_event
from shared.outbox import add_events
from shared.problems import Conflict, NotFound

SOURCE = "/mesocycle/plans"

T = TypeVar("T")


@dataclass(frozen=True)
class Page:
    """Offset pagination: ``limit`` rows from ``offset``, in a stable order."""

    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class Found(Generic[T]):
    """A page of results and how many there are in all."""

    items: list[T]
    total: int


async def paginate(session: AsyncSession, query: sa.Select[T], page: Page) -> Found[T]:
    """Run ``query`` (already ordered) for one page, and count every match."""
    total = await session.scalar(
        sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
    )
    rows = await session.scalars(query.limit(page.limit).offset(page.offset))
    return Found(items=list(rows.unique()), total=total or 0)


def clinic_today(now: datetime, time_zone: str) -> date:
    return clinic_date(now, time_zone)


async def get_plan(session: AsyncSession, *, plan_id: uuid.UUID) -> Plan:
    plan = await session.get(Plan, plan_id, populate_existing=True)
    if plan is None:
        raise NotFound(f"no plan {plan_id}")
    return plan


async def locked_plan(session: AsyncSession, plan_id: uuid.UUID) -> Plan | None:
    """The plan, its row locked for this transaction (only the plan's, not its protocol's)."""
    result = await session.scalars(
        sa.select(Plan)
        .where(Plan.id == plan_id)
        .with_for_update(of=Plan)
        .execution_options(populate_existing=True)
    )
    return result.unique().one_or_none()


async def plan_for(session: AsyncSession, plan_id: uuid.UUID, action: Action) -> Plan:
    """The locked plan, if its status allows ``action``; else 404 or 409."""
    plan = await locked_plan(session, plan_id)
    if plan is None:
        raise NotFound(f"no plan {plan_id}")
    try:
        require(plan.status, action)
    except TransitionRefused as refused:
        raise Conflict(str(refused), plan_status=plan.status) from None
    return plan


async def announce(
    session: AsyncSession, *, patient_id: uuid.UUID, payloads: Sequence[Payload], now: datetime
) -> None:
    """Stage events about a patient (their key, so they stay in order) in the outbox."""
    events: list[Any] = [
        new_event(payload, source=SOURCE, key=str(patient_id), now=now) for payload in payloads
    ]
    await add_events(session, outbox, events)


def session_states(plan: Plan) -> list[SessionState]:
    total = len(plan.sessions)
    return [SessionState(s.window(total), SessionStatus(s.status)) for s in plan.sessions]


def apply_replan(plan: Plan, replan: Replan) -> list[SessionWindow]:
    """Write a rule's decision onto the plan's sessions; return the windows to announce.

    Withdrawn sessions (a paused plan) move silently: resuming announces them.
    """
    by_number = {s.session_number: s for s in plan.sessions}
    for number, status in replan.statuses.items():
        by_number[number].status = status
    for window in replan.windows:
        by_number[window.session_number].move_to(window)
    return [
        w for w in replan.windows if by_number[w.session_number].status != SessionStatus.WITHDRAWN
    ]
