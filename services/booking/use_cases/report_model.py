"""The staff reports' read model: what booking keeps of notify's and plans' events.

booking owns the reports (docs/reports.md): it has the appointments, windows, hours and
offers, and already consumes notify's and plans' events. What the reports need of them
is kept here, each row keyed by what it is about (a message, a reply, a plan), written
by an upsert: an event applied again, by a redelivery or a replay, changes nothing.

- a message (MessageStatusChanged): its kind and its latest status, once per message;
  a status reported later (or at the same instant but later in a message's life)
  replaces the kept one, an older one never does;
- a "C" reply (ConfirmationReceived): once per appointment and instant received;
- how a plan ended (PlanCompleted, PlanCancelled): once per plan, at the event's time.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from booking.adapters.db import ReportMessage, ReportPlanOutcome, ReportReply
from booking.domain.reports import STATUS_RANK, PlanOutcome
from shared.consumer import Handler, Handlers
from shared.contracts.notify import ConfirmationReceived, MessageStatusChanged
from shared.contracts.plans import PlanCancelled, PlanCompleted
from shared.events import Event, Payload


async def record_message(session: AsyncSession, *, status: MessageStatusChanged) -> None:
    """Keep the message's kind and its latest status."""
    rank = STATUS_RANK.get(status.status, 0)
    row = insert(ReportMessage).values(
        message_id=status.message_id, patient_id=status.patient_id,
        appointment_id=status.appointment_id, offer_id=status.offer_id, kind=status.kind,
        status=status.status, status_rank=rank, first_at=status.changed_at,
        changed_at=status.changed_at,
    )  # fmt: skip
    kept = ReportMessage.__table__.c
    newer = sa.tuple_(row.excluded.changed_at, row.excluded.status_rank) > sa.tuple_(
        kept.changed_at, kept.status_rank
    )
    await session.execute(
        row.on_conflict_do_update(
            index_elements=[kept.message_id],
            set_={
                "first_at": sa.func.least(kept.first_at, row.excluded.first_at),
                **{
                    name: sa.case((newer, row.excluded[name]), else_=kept[name])
                    for name in ("status", "status_rank", "changed_at")
                },
            },
        )
    )


async def record_reply(session: AsyncSession, *, reply: ConfirmationReceived) -> None:
    """Keep the patient's "C" (once per appointment and instant)."""
    await session.execute(
        insert(ReportReply)
        .values(
            appointment_id=reply.appointment_id,
            received_at=reply.received_at,
            patient_id=reply.patient_id,
            appointment_version=reply.appointment_version,
        )
        .on_conflict_do_nothing()
    )


async def record_plan_outcome(
    session: AsyncSession,
    *,
    plan_id: uuid.UUID,
    patient_id: uuid.UUID,
    outcome: PlanOutcome,
    at: datetime,
    reason: str | None = None,
) -> None:
    """Keep how the plan ended, the first time it is told."""
    await session.execute(
        insert(ReportPlanOutcome)
        .values(
            plan_id=plan_id,
            patient_id=patient_id,
            outcome=outcome,
            decided_at=at,
            reason=reason,
        )
        .on_conflict_do_nothing()
    )


async def _message(session: AsyncSession, event: Event[MessageStatusChanged]) -> None:
    await record_message(session, status=event.data)


async def _reply(session: AsyncSession, event: Event[ConfirmationReceived]) -> None:
    await record_reply(session, reply=event.data)


async def _completed(session: AsyncSession, event: Event[PlanCompleted]) -> None:
    await record_plan_outcome(
        session, plan_id=event.data.plan_id, patient_id=event.data.patient_id,
        outcome=PlanOutcome.COMPLETED, at=event.time,
    )  # fmt: skip


async def _dropped(session: AsyncSession, event: Event[PlanCancelled]) -> None:
    await record_plan_outcome(
        session, plan_id=event.data.plan_id, patient_id=event.data.patient_id,
        outcome=PlanOutcome.DROPPED, at=event.time, reason=event.data.reason,
    )  # fmt: skip


#: The events the read model keeps, and how.
READ_MODEL: dict[type[Payload], Handler] = {
    MessageStatusChanged: _message,
    ConfirmationReceived: _reply,
    PlanCompleted: _completed,
    PlanCancelled: _dropped,
}


def with_read_model(handlers: Handlers) -> Handlers:
    """booking's ``handlers``, each event the reports need also kept in their read model,
    after the handler's own effect and in its transaction (an event booking did not
    handle before, such as PlanCompleted, is kept only)."""
    combined = dict(handlers)
    for event_type, keep in READ_MODEL.items():
        own = handlers.get(event_type)
        combined[event_type] = keep if own is None else _both(own, keep)
    return combined


def _both(first: Handler, then: Handler) -> Handler:
    async def handle(session: AsyncSession, event: Event[Any]) -> None:
        await first(session, event)
        await then(session, event)

    return handle
