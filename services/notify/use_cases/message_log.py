"""The message log staff read: per patient, per appointment, and what needs attention."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from notify.adapters.db import Message, Patient
from notify.domain import status

LOG_LIMIT = 500

#: A message with its patient's name as notify knows it (None once erased).
Logged = tuple[Message, str | None]


def _logged() -> sa.Select[Message, str | None]:
    """Messages joined to their patient's name ('' once erased: None)."""
    name = sa.func.nullif(Patient.full_name, "", type_=sa.Text)
    return sa.select(Message, name).outerjoin(Patient, Patient.id == Message.patient_id)


async def list_messages(
    session: AsyncSession,
    *,
    patient_id: uuid.UUID | None = None,
    appointment_id: uuid.UUID | None = None,
    statuses: Sequence[str] | None = None,
) -> list[Logged]:
    """Messages, newest first; those written together in the order they go out."""
    query = (
        _logged().order_by(Message.created_at.desc(), Message.due_at, Message.kind).limit(LOG_LIMIT)
    )
    if patient_id is not None:
        query = query.where(Message.patient_id == patient_id)
    if appointment_id is not None:
        query = query.where(Message.appointment_id == appointment_id)
    if statuses:
        query = query.where(Message.status.in_(statuses))
    return list((await session.execute(query)).tuples())


async def needing_attention(session: AsyncSession) -> list[Logged]:
    """Failed, undelivered and unknown messages, newest first: the patient may not know."""
    query = (
        _logged()
        .where(Message.status.in_(status.NEEDS_ATTENTION))
        .order_by(Message.updated_at.desc())
        .limit(LOG_LIMIT)
    )
    return list((await session.execute(query)).tuples())
