"""The dispatcher: claims due messages and sends each through Twilio exactly once.

Claiming is ``FOR UPDATE SKIP LOCKED`` plus a lease, in a transaction of its own, so N
dispatchers never take the same message. Only what is safe is retried (429, a refused
connection), with exponential backoff and jitter. A send that may or may not have
reached Twilio (timeout, 5xx, a dispatcher that died holding the lease) is marked
``unknown`` and left to the reconciler: never blindly sent again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notify.db import Message, Patient, outbox
from notify.domain import status
from notify.domain.kinds import SCHEDULED, Kind
from notify.domain.policy import MessagePolicy
from notify.domain.quiet_hours import is_quiet, quiet_hours_end_after
from notify.rate_limit import SegmentRate
from notify.sms import SendRefused, SmsGateway, SmsRejected
from notify.templates.segments import count_segments
from notify.use_cases.clinic_policy import load_policy
from shared.clock import Clock
from shared.contracts.notify import MessageStatusChanged
from shared.events import Event, new_event
from shared.outbox import add_events

log = logging.getLogger(__name__)

SOURCE = "/mesocycle/notify"
# Events of different topics are not ordered: an appointment can arrive before its patient.
AWAIT_PATIENT_DELAY = timedelta(seconds=2)
#: Kinds held back (not sent) in quiet hours when notify itself is late with them.
HELD_IN_QUIET_HOURS = SCHEDULED | {Kind.INVITATION}
_COLUMNS = ("status", "status_reason", "error_code", "twilio_sid", "sent_at", "due_at",
            "attempted_at", "sent_to")  # fmt: skip


@dataclass(frozen=True)
class Claimed:
    """A claimed message and what sending it needs to know of its patient."""

    id: uuid.UUID
    patient_id: uuid.UUID
    appointment_id: uuid.UUID | None
    kind: str
    body: str
    due_at: datetime
    expires_at: datetime | None
    attempts: int
    patient_known: bool
    phone: str | None
    time_zone: str | None
    sms_consent: bool
    opted_out: bool
    erased: bool


@dataclass(frozen=True)
class Retrying:
    """When failed sends are tried again: exponential backoff with jitter, then given up."""

    base: timedelta = timedelta(seconds=5)
    cap: timedelta = timedelta(minutes=5)
    max_attempts: int = 8

    def delay(self, attempts: int) -> timedelta:
        ceiling = min(self.cap, self.base * 2 ** max(attempts - 1, 0))
        # Full jitter: replicas retrying after one 429 must not all come back together.
        jittered: timedelta = ceiling * random.uniform(0.5, 1.0)  # noqa: S311 - not crypto
        return jittered


class Dispatcher:
    """Sends due messages; run as many as wanted (``python -m notify dispatch``)."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        gateway: SmsGateway,
        clock: Clock,
        status_callback: str | None,
        batch_size: int = 100,
        interval: float = 0.2,
        lease: timedelta = timedelta(seconds=60),
        rate: SegmentRate | None = None,
        retrying: Retrying | None = None,
    ) -> None:
        self._sessions = sessions
        self._gateway = gateway
        self._clock = clock
        self._status_callback = status_callback
        self._batch_size = batch_size
        self._interval = interval
        self._lease = lease
        self._rate = rate or SegmentRate(None, 1)
        self._retrying = retrying or Retrying()

    async def run(self) -> None:
        """Dispatch until cancelled."""
        while True:
            claimed = await self.dispatch_due()
            if claimed < self._batch_size:
                await asyncio.sleep(self._interval)

    async def dispatch_due(self) -> int:
        """Send one batch of due messages; returns how many were claimed."""
        now = self._clock.now()
        async with self._sessions.begin() as session:
            await self._expire_lost_leases(session, now)
            policy = await load_policy(session)
            claimed = await self._claim(session, now)
        if not claimed:
            return 0
        outcomes = await asyncio.gather(*(self._deliver(m, policy) for m in claimed))
        await self._record(claimed, outcomes)
        return len(claimed)

    def _claim_size(self) -> int:
        # Claim no more than the rate lets out well within the lease.
        capacity = self._rate.capacity(self._lease.total_seconds() / 4)
        return self._batch_size if capacity is None else max(1, min(capacity, self._batch_size))

    async def _claim(self, session: AsyncSession, now: datetime) -> list[Claimed]:
        due = (
            sa.select(Message.id)
            .where(Message.status == status.PENDING, Message.due_at <= now)
            .order_by(Message.due_at)
            .limit(self._claim_size())
            .with_for_update(skip_locked=True)
        )
        ids = list(await session.scalars(due))
        if not ids:
            return []
        rows = await session.execute(
            sa.update(Message)
            .where(Message.id.in_(ids))
            .values(
                status=status.SENDING,
                lease_until=now + self._lease,
                attempts=Message.attempts + 1,
                updated_at=now,
            )
            .returning(Message)
        )
        claimed = list(rows.scalars())
        patients = {
            p.id: p
            for p in await session.scalars(
                sa.select(Patient).where(Patient.id.in_({m.patient_id for m in claimed}))
            )
        }
        return [_claimed(message, patients.get(message.patient_id)) for message in claimed]

    async def _expire_lost_leases(self, session: AsyncSession, now: datetime) -> None:
        # A dispatcher died while sending: Twilio may or may not have the message.
        await session.execute(
            sa.update(Message)
            .where(Message.status == status.SENDING, Message.lease_until < now)
            .values(
                status=status.UNKNOWN,
                lease_until=None,
                status_reason="a dispatcher lost its lease while sending",
                updated_at=now,
            )
        )

    async def _deliver(self, message: Claimed, policy: MessagePolicy) -> dict[str, Any]:
        now = self._clock.now()
        outcome: dict[str, Any] = dict.fromkeys(_COLUMNS) | {"due_at": message.due_at}
        if not message.patient_known and not _expired(message, now):
            return outcome | {
                "status": status.PENDING,
                "due_at": now + AWAIT_PATIENT_DELAY,
                "status_reason": "waiting for the patient's contact details",
            }
        reason = _reason_not_to_send(message, now)
        if reason:
            return outcome | {"status": status.SKIPPED, "status_reason": reason}
        held = _held_for_quiet_hours(message, policy, now)
        if held is not None:
            return outcome | held
        assert message.phone is not None
        await self._rate.take(count_segments(message.body))
        now = self._clock.now()
        outcome |= {"attempted_at": now, "sent_to": message.phone}
        validity = None
        if message.expires_at is not None:
            validity = int((message.expires_at - now).total_seconds())
            if validity < 1:
                return outcome | {"status": status.SKIPPED, "status_reason": _TOO_LATE}
        try:
            accepted = await self._gateway.send(
                to=message.phone,
                body=message.body,
                status_callback=self._callback_for(message.id),
                validity_seconds=validity,
            )
        except SmsRejected as rejected:
            if rejected.retryable:
                return outcome | self._retry(message, now, f"Twilio busy ({rejected.code})")
            if rejected.in_doubt:
                return outcome | _in_doubt(f"Twilio answered {rejected.status}")
            return outcome | {
                "status": status.FAILED,
                "error_code": rejected.code,
                "status_reason": f"Twilio refused it: {rejected}",
            }
        except SendRefused:
            return outcome | self._retry(message, now, "Twilio unreachable (connection refused)")
        except Exception as error:
            log.warning("send of message %s ended in doubt: %s", message.id, type(error).__name__)
            return outcome | _in_doubt(f"no answer from Twilio ({type(error).__name__})")
        return outcome | {
            "status": status.TWILIO_STATUSES.get(accepted.status, status.QUEUED),
            "twilio_sid": accepted.sid,
            "sent_at": now,
        }

    def _callback_for(self, message_id: uuid.UUID) -> str | None:
        # Our id in the URL: a callback then resolves a send that ended in doubt.
        if self._status_callback is None:
            return None
        return f"{self._status_callback}?message={message_id}"

    def _retry(self, message: Claimed, now: datetime, why: str) -> dict[str, Any]:
        if message.attempts >= self._retrying.max_attempts:
            return {"status": status.FAILED, "status_reason": f"{why}; gave up"}
        due = now + self._retrying.delay(message.attempts)
        if message.expires_at is not None and due >= message.expires_at:
            return {"status": status.SKIPPED, "status_reason": f"{why}; too late to retry"}
        return {"status": status.PENDING, "due_at": due, "status_reason": f"{why}; will retry"}

    async def _record(self, claimed: list[Claimed], outcomes: list[dict[str, Any]]) -> None:
        """Store every outcome of the batch in one transaction, with their events."""
        now = self._clock.now()
        table = Message.__table__
        assert isinstance(table, sa.Table)
        rows = [
            {"b_id": m.id, **{f"b_{c}": o.get(c) for c in _COLUMNS}}
            for m, o in zip(claimed, outcomes, strict=True)
        ]
        update = (
            sa.update(table)
            .where(
                table.c.id == sa.bindparam("b_id"),
                # A plain OR: an expanding IN cannot go in an executemany.
                sa.or_(table.c.status == status.SENDING, table.c.status == status.UNKNOWN),
            )
            .values(
                {c: sa.bindparam(f"b_{c}") for c in _COLUMNS}
                | {"lease_until": None, "updated_at": now}
            )
        )
        events = [
            _status_event(m, o, now)
            for m, o in zip(claimed, outcomes, strict=True)
            if o["status"] != status.PENDING
        ]
        async with self._sessions.begin() as session:
            await session.execute(update, rows)
            await add_events(session, outbox, events)


_TOO_LATE = "too late: no longer useful (the session is too close or has started)"


def _status_event(
    message: Claimed, outcome: dict[str, Any], now: datetime
) -> Event[MessageStatusChanged]:
    changed = MessageStatusChanged(
        message_id=message.id,
        appointment_id=message.appointment_id,
        patient_id=message.patient_id,
        kind=message.kind,
        status=outcome["status"],
        error_code=outcome.get("error_code"),
        changed_at=now,
        reason=outcome.get("status_reason"),
    )
    return new_event(changed, source=SOURCE, key=str(message.patient_id), now=now)


def _claimed(message: Message, patient: Patient | None) -> Claimed:
    return Claimed(
        id=message.id,
        patient_id=message.patient_id,
        appointment_id=message.appointment_id,
        kind=message.kind,
        body=message.body,
        due_at=message.due_at,
        expires_at=message.expires_at,
        attempts=message.attempts,
        patient_known=patient is not None,
        phone=patient.phone if patient else None,
        time_zone=patient.time_zone if patient else None,
        sms_consent=bool(patient and patient.sms_consent),
        opted_out=bool(patient and patient.opted_out_at),
        erased=bool(patient and patient.erased_at),
    )


def _in_doubt(why: str) -> dict[str, Any]:
    return {"status": status.UNKNOWN, "status_reason": f"{why}: reconciling with Twilio"}


def _expired(message: Claimed, now: datetime) -> bool:
    return message.expires_at is not None and message.expires_at <= now


def _reason_not_to_send(message: Claimed, now: datetime) -> str | None:
    if _expired(message, now):
        if now - message.due_at > timedelta(minutes=5):
            return f"missed while notify was down; {_TOO_LATE}"
        return _TOO_LATE
    if not message.patient_known:
        return "the patient is unknown to notify"
    if message.erased:
        return "the patient was erased"
    if message.phone is None:
        return "no phone number for the patient"
    if not message.sms_consent:
        return "the patient has not consented to SMS"
    if message.opted_out:
        return "the patient opted out (STOP)"
    return None


def _held_for_quiet_hours(
    message: Claimed, policy: MessagePolicy, now: datetime
) -> dict[str, Any] | None:
    """A scheduled message notify is late with must not go out in the night."""
    if message.kind not in HELD_IN_QUIET_HOURS or message.time_zone is None:
        return None
    zone = ZoneInfo(message.time_zone)
    start, end = policy.quiet_hours_start, policy.quiet_hours_end
    if not is_quiet(now, zone, start, end):
        return None
    morning = quiet_hours_end_after(now, zone, start, end)
    if message.expires_at is not None and morning >= message.expires_at:
        return {
            "status": status.SKIPPED,
            "status_reason": "missed while notify was down; quiet hours last past its use",
        }
    return {"status": status.PENDING, "due_at": morning, "status_reason": "held: quiet hours"}
