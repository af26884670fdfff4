"""The dispatcher: claims due messages and sends each through Twilio exactly once.

Claiming is ``FOR UPDATE SKIP LOCKED`` plus a lease, so N dispatchers never take
the same message. A message whose send may or may not have reached Twilio is
marked ``unknown``, never blindly sent again.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notify.db import Message, Patient, outbox
from notify.sms import SmsGateway, SmsRejected
from shared.clock import Clock
from shared.contracts.notify import MessageStatusChanged
from shared.events import new_event
from shared.outbox import add_events

log = logging.getLogger(__name__)

SOURCE = "/mesocycle/notify"
RETRY_DELAY = timedelta(seconds=30)
# Events of different topics are not ordered: an appointment can arrive before its patient.
AWAIT_PATIENT_DELAY = timedelta(seconds=2)


@dataclass(frozen=True)
class Claimed:
    id: uuid.UUID
    patient_id: uuid.UUID
    appointment_id: uuid.UUID | None
    kind: str
    body: str
    expires_at: datetime | None
    attempts: int
    patient_known: bool
    phone: str | None
    sms_consent: bool
    opted_out: bool


class Dispatcher:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        gateway: SmsGateway,
        clock: Clock,
        status_callback: str | None,
        batch_size: int = 100,
        interval: float = 0.5,
        lease: timedelta = timedelta(seconds=60),
    ) -> None:
        self._sessions = sessions
        self._gateway = gateway
        self._clock = clock
        self._status_callback = status_callback
        self._batch_size = batch_size
        self._interval = interval
        self._lease = lease

    async def run(self) -> None:
        """Dispatch until cancelled."""
        while True:
            sent = await self.dispatch_due()
            if sent < self._batch_size:
                await asyncio.sleep(self._interval)

    async def dispatch_due(self) -> int:
        """Send one batch of due messages; returns how many were claimed."""
        now = self._clock.now()
        async with self._sessions.begin() as session:
            await self._expire_lost_leases(session, now)
            claimed = await self._claim(session, now)
        await asyncio.gather(*(self._deliver(message) for message in claimed))
        return len(claimed)

    async def _claim(self, session: AsyncSession, now: datetime) -> list[Claimed]:
        due = (
            sa.select(Message.id)
            .where(Message.status == "pending", Message.due_at <= now)
            .order_by(Message.due_at)
            .limit(self._batch_size)
            .with_for_update(skip_locked=True)
        )
        ids = list(await session.scalars(due))
        if not ids:
            return []
        await session.execute(
            sa.update(Message)
            .where(Message.id.in_(ids))
            .values(
                status="sending",
                lease_until=now + self._lease,
                attempts=Message.attempts + 1,
                updated_at=now,
            )
        )
        rows = await session.execute(
            sa.select(Message, Patient)
            .join(Patient, Patient.id == Message.patient_id, isouter=True)
            .where(Message.id.in_(ids))
        )
        return [
            Claimed(
                id=message.id,
                patient_id=message.patient_id,
                appointment_id=message.appointment_id,
                kind=message.kind,
                body=message.body,
                expires_at=message.expires_at,
                attempts=message.attempts,
                patient_known=patient is not None,
                phone=patient.phone if patient else None,
                sms_consent=bool(patient and patient.sms_consent),
                opted_out=bool(patient and patient.opted_out_at),
            )
            for message, patient in rows.tuples()
        ]

    async def _expire_lost_leases(self, session: AsyncSession, now: datetime) -> None:
        # A dispatcher died while sending: Twilio may or may not have the message.
        await session.execute(
            sa.update(Message)
            .where(Message.status == "sending", Message.lease_until < now)
            .values(status="unknown", status_reason="dispatcher lost its lease while sending")
        )

    async def _deliver(self, message: Claimed) -> None:
        now = self._clock.now()
        reason = _reason_not_to_send(message, now)
        if reason is None and not message.patient_known:
            await self._record(
                message, now, status="pending", due_at=now + AWAIT_PATIENT_DELAY,
                status_reason="waiting for the patient's contact details",
            )  # fmt: skip
            return
        if reason:
            await self._record(message, now, status="skipped", status_reason=reason)
            return
        assert message.phone is not None
        validity = None
        if message.expires_at is not None:
            validity = int((message.expires_at - now).total_seconds())
        try:
            accepted = await self._gateway.send(
                to=message.phone,
                body=message.body,
                status_callback=self._status_callback,
                validity_seconds=validity,
            )
        except SmsRejected as rejected:
            if rejected.retryable:
                await self._record(
                    message, now, status="pending", due_at=now + RETRY_DELAY * message.attempts
                )
            else:
                await self._record(
                    message,
                    now,
                    status="failed",
                    error_code=rejected.code,
                    status_reason=str(rejected),
                )
            return
        except aiohttp.ClientConnectorError:
            # Refused before anything left: safe to try again.
            await self._record(message, now, status="pending", due_at=now + RETRY_DELAY)
            return
        except Exception as error:
            log.warning("send of message %s ended in doubt: %r", message.id, error)
            await self._record(
                message, now, status="unknown", status_reason=f"{type(error).__name__}"
            )
            return
        await self._record(message, now, status="sent", twilio_sid=accepted.sid, sent_at=now)

    async def _record(
        self, message: Claimed, now: datetime, *, status: str, **values: object
    ) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                sa.update(Message)
                .where(Message.id == message.id)
                .values(status=status, lease_until=None, updated_at=now, **values)
            )
            if status != "pending":
                await add_status_event(session, message_id=message.id, now=now)


async def add_status_event(session: AsyncSession, *, message_id: uuid.UUID, now: datetime) -> None:
    """Tell booking (the staff schedule) where a message stands now."""
    message = await session.get(Message, message_id, populate_existing=True)
    assert message is not None
    changed = MessageStatusChanged(
        message_id=message.id,
        appointment_id=message.appointment_id,
        patient_id=message.patient_id,
        kind=message.kind,
        status=message.status,
        error_code=message.error_code,
        changed_at=now,
    )
    event = new_event(changed, source=SOURCE, key=str(message.patient_id), now=now)
    await add_events(session, outbox, [event])


def _reason_not_to_send(message: Claimed, now: datetime) -> str | None:
    if message.expires_at is not None and message.expires_at <= now:
        return "too late: the appointment has started"
    if not message.patient_known:
        return None
    if message.phone is None:
        return "no phone number for the patient"
    if not message.sms_consent:
        return "the patient has not consented to SMS"
    if message.opted_out:
        return "the patient opted out (STOP)"
    return None
