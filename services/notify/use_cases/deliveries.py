"""What Twilio tells us about a message: status only ever moves forward, and every move
is an event booking shows on the staff schedule."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from notify.adapters.db import Message, outbox
from notify.domain import status
from shared.contracts.notify import MessageStatus, MessageStatusChanged
from shared.events import Event, new_event
from shared.outbox import add_events

SOURCE = "/mesocycle/notify"


class AboutMessage(Protocol):
    """What a status event names of its message (a stored row or a claimed one)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def appointment_id(self) -> uuid.UUID | None: ...
    @property
    def patient_id(self) -> uuid.UUID: ...
    @property
    def kind(self) -> str: ...
    @property
    def offer_id(self) -> uuid.UUID | None: ...


def status_event(message: Message, *, now: datetime) -> Event[MessageStatusChanged]:
    """The event telling booking where a stored message stands now."""
    return outcome_event(
        message,
        status=message.status,
        error_code=message.error_code,
        reason=message.status_reason,
        now=now,
    )


def outcome_event(
    message: AboutMessage,
    *,
    status: str,
    error_code: int | None,
    reason: str | None,
    now: datetime,
) -> Event[MessageStatusChanged]:
    """The event telling booking where a message stands: ``status`` for ``reason``."""
    changed = MessageStatusChanged(
        message_id=message.id,
        appointment_id=message.appointment_id,
        patient_id=message.patient_id,
        kind=message.kind,
        status=status,
        error_code=error_code,
        changed_at=now,
        reason=reason,
        offer_id=message.offer_id,
    )
    return new_event(changed, source=SOURCE, key=str(message.patient_id), now=now)


async def record_twilio_status(
    session: AsyncSession,
    *,
    sid: str,
    twilio_status: str,
    error_code: int | None,
    message_id: uuid.UUID | None,
    now: datetime,
) -> bool:
    """Apply a status Twilio reports for ``sid``; False when the message is not ours.

    ``message_id`` (carried in our StatusCallback URL) finds a message whose send ended
    in doubt: Twilio calling back proves it has it, so its SID is stored at last.
    """
    new_status = status.TWILIO_STATUSES[twilio_status]
    message = await session.scalar(
        sa.select(Message).where(Message.twilio_sid == sid).with_for_update()
    )
    if message is None and message_id is not None:
        message = await session.scalar(
            sa.select(Message)
            .where(Message.id == message_id, Message.twilio_sid.is_(None))
            .with_for_update()
        )
        if message is not None:
            message.twilio_sid = sid
    if message is None:
        return False
    if status.moves_forward(message.status, new_status):
        message.status = new_status
        message.updated_at = now
        if new_status in (MessageStatus.SENT, MessageStatus.QUEUED) and message.sent_at is None:
            message.sent_at = now
        if error_code is not None:
            message.error_code = error_code
            message.status_reason = f"Twilio error {error_code}"
        await session.flush()
        await add_events(session, outbox, [status_event(message, now=now)])
    return True
