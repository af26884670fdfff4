"""Reconciliation: settle sends that ended in doubt by asking Twilio what it has.

A message marked ``unknown`` is looked up in Twilio's message list by recipient, text and
time: a message to the same number, with the same text, created since the attempt (give
or take the clocks' slack), with a SID we do not hold yet. Found: it was sent, its SID and
status are stored. Still missing ``grace`` after the attempt (a request we gave up on may
still land, and Twilio's list may lag): it never reached Twilio, and it is sent again if
still useful, else skipped with the reason. Looked at every ``interval``, so a send is
in doubt at most ``grace + interval`` (55 s by default) after its attempt.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notify.adapters.db import Message, Patient, outbox
from notify.adapters.sms import SmsGateway
from notify.domain import status
from notify.use_cases.deliveries import status_event
from shared.clock import Clock
from shared.contracts.notify import MessageStatus
from shared.outbox import add_events
from shared.periodic import Periodic

log = logging.getLogger(__name__)


class Reconciler(Periodic):
    """Settles ``unknown`` messages against Twilio's message list."""

    done = "settled %d messages in doubt"

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        gateway: SmsGateway,
        clock: Clock,
        grace: timedelta = timedelta(seconds=40),
        interval: float = 15.0,
        batch_size: int = 50,
    ) -> None:
        super().__init__(interval=interval)
        self._sessions = sessions
        self._gateway = gateway
        self._clock = clock
        self._grace = grace
        self._batch_size = batch_size

    async def reconcile(self) -> int:
        """Settle what can be settled now; returns how many messages were settled."""
        async with self._sessions() as session:
            # A dispatcher that lost its lease never wrote down the number: the patient's.
            to = sa.func.coalesce(Message.sent_to, Patient.phone)
            unknown = list(
                (
                    await session.execute(
                        sa.select(Message, to)
                        .join(Patient, Patient.id == Message.patient_id)
                        .where(Message.status == MessageStatus.UNKNOWN, to.is_not(None))
                        .order_by(Message.updated_at)
                        .limit(self._batch_size)
                    )
                ).tuples()
            )
        settled = 0
        for message, number in unknown:
            settled += await self._settle(message, number)
        return settled

    one_pass = reconcile

    async def _settle(self, message: Message, to: str) -> int:
        async with self._sessions.begin() as session:
            known = set(
                await session.scalars(
                    sa.select(Message.twilio_sid).where(
                        Message.patient_id == message.patient_id, Message.twilio_sid.is_not(None)
                    )
                )
            )
        # A dispatcher that lost its lease never wrote down when it sent: not before due.
        attempted = message.attempted_at or message.due_at
        try:
            found = await self._gateway.find(
                to=to,
                body=message.body,
                known_sids={s for s in known if s},
                within=max(self._clock.now() - attempted, timedelta(0)),
            )
        except Exception as error:
            log.warning("cannot reconcile message %s now: %s", message.id, type(error).__name__)
            return 0
        now = self._clock.now()
        async with self._sessions.begin() as session:
            current = await session.get(Message, message.id, with_for_update=True)
            if current is None or current.status != MessageStatus.UNKNOWN:
                return 0  # a status callback settled it meanwhile
            if found is not None:
                current.twilio_sid = found.sid
                current.status = status.TWILIO_STATUSES.get(found.status, MessageStatus.QUEUED)
                current.sent_at = current.attempted_at
                current.status_reason = "reconciled: Twilio has it"
            elif not _long_gone(current, now, self._grace):
                return 0
            elif current.expires_at is not None and current.expires_at <= now:
                current.status = MessageStatus.SKIPPED
                current.status_reason = "reconciled: never reached Twilio, and now too late"
            else:
                current.status = MessageStatus.PENDING
                current.due_at = now
                current.status_reason = "reconciled: never reached Twilio; sending again"
            current.updated_at = now
            await session.flush()
            if current.status != MessageStatus.PENDING:
                await add_events(session, outbox, [status_event(current, now=now)])
        return 1


def _long_gone(message: Message, now: datetime, grace: timedelta) -> bool:
    attempted = message.attempted_at or message.updated_at
    return now - attempted >= grace
