"""The dispatcher: claims due messages and sends each through Twilio exactly once.

Claiming is ``FOR UPDATE SKIP LOCKED`` plus a lease, in a transaction of its own, so N
dispatchers never take the same message. Only what is safe is retried (429, a refused
connection), with exponential backoff and jitter; a kept-alive connection found closed
is the gateway's to handle (``notify.adapters.sms``). A send that may or may not have reached
Twilio (timeout, 5xx, a dispatcher that died holding the lease) is marked ``unknown``
and left to the reconciler: never blindly sent again.

``run`` is a pipeline: claims keep up to ``max_in_flight`` sends going at once (the rate
limit is what paces them, not the batch), and a recorder stores finished outcomes every
``flush_interval`` in one transaction, so a slow send never holds back the next claim.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notify.adapters.sms import SendRefused, SmsGateway, SmsRejected
from notify.domain import status
from notify.domain.policy import MessagePolicy
from notify.domain.sending import (
    TOO_LATE,
    CapCounter,
    Claimed,
    Held,
    held_for_quiet_hours,
    reason_not_to_send,
)
from notify.domain.templates.segments import count_segments
from notify.use_cases.clinic_policy import load_policy
from notify.workers import claims
from notify.workers.rate_limit import SegmentRate
from shared import tracing
from shared.clock import Clock
from shared.contracts.notify import MessageStatus
from shared.periodic import Periodic

log = logging.getLogger(__name__)
SENT = Counter("sms_sent_total", "SMS Twilio accepted from this process", ["kind"])

Outcome = dict[str, Any]


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


@dataclass(frozen=True)
class Batch:
    """A claim: the messages, the policy in force and the caps so far."""

    messages: list[Claimed]
    policy: MessagePolicy
    caps: CapCounter


class Dispatcher(Periodic):
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
        max_in_flight: int | None = None,
        flush_interval: float = 0.05,
    ) -> None:
        super().__init__(interval=interval)
        self._sessions = sessions
        self._gateway = gateway
        self._clock = clock
        self._status_callback = status_callback
        self._batch_size = batch_size
        self._lease = lease
        self._rate = rate or SegmentRate(None, 1)
        self._retrying = retrying or Retrying()
        self._max_in_flight = max_in_flight or 2 * batch_size
        self._flush_interval = flush_interval
        self._finished: list[tuple[Claimed, Outcome]] = []
        self._sends: set[asyncio.Task[None]] = set()
        self._limit = 0  # the last pass's claim size

    async def run(self) -> None:
        """Dispatch until cancelled; on cancellation, finish and record the sends under way."""
        recorder = asyncio.create_task(self._record_continuously(), name="notify-recorder")
        try:
            await super().run()
        finally:
            # Shielded: what left for Twilio must be recorded, or it ends up 'unknown'.
            await asyncio.shield(self._drain(recorder))

    async def one_pass(self) -> int:
        """Claim what is due, up to what may be in flight, and start sending it."""
        if len(self._sends) >= self._max_in_flight:
            await asyncio.wait(self._sends, return_when=asyncio.FIRST_COMPLETED)
            self._limit = 0  # room again: claim at once
            return 0
        self._limit = min(self._claim_size(), self._max_in_flight - len(self._sends))
        claiming = asyncio.ensure_future(self._claim(self._limit))
        try:
            batch = await asyncio.shield(claiming)
        except asyncio.CancelledError:
            # Stopping while a claim commits: what it took is ours alone, so it is sent
            # (and recorded) before we stop, not stranded under its lease.
            self._send_all(await claiming)
            raise
        self._send_all(batch)
        return len(batch.messages)

    def more_waiting(self, did: int) -> bool:
        return did >= self._limit

    def _send_all(self, batch: Batch) -> None:
        for message in batch.messages:
            task = asyncio.create_task(self._send_and_keep(message, batch))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)

    async def dispatch_due(self) -> int:
        """Send one batch of due messages and record it; returns how many were claimed."""
        batch = await self._claim(self._claim_size())
        if not batch.messages:
            return 0
        outcomes = await asyncio.gather(*(self._deliver(m, batch) for m in batch.messages))
        await self._record(list(zip(batch.messages, outcomes, strict=True)))
        return len(batch.messages)

    def _claim_size(self) -> int:
        # Claim no more than the rate lets out well within the lease.
        capacity = self._rate.capacity(self._lease.total_seconds() / 4)
        return self._batch_size if capacity is None else max(1, min(capacity, self._batch_size))

    async def _claim(self, limit: int) -> Batch:
        now = self._clock.now()
        async with self._sessions.begin() as session:
            await claims.expire_lost_leases(session, now)
            policy = await load_policy(session)
            claimed = await claims.claim_due(session, now=now, limit=limit, lease=self._lease)
            sends = await claims.recent_sends(session, claimed, now=now) if claimed else []
        return Batch(claimed, policy, CapCounter(policy, sends))

    async def _send_and_keep(self, message: Claimed, batch: Batch) -> None:
        try:
            outcome = await self._deliver(message, batch)
        except Exception:  # a bug here must not leave the message claimed forever
            log.exception("dispatch of message %s crashed", message.id)
            outcome = _in_doubt("the dispatcher failed while sending")
        self._finished.append((message, outcome))

    async def _record_continuously(self) -> None:
        while True:
            await asyncio.sleep(self._flush_interval)
            await self._flush()

    async def _flush(self) -> None:
        finished, self._finished = self._finished, []
        if not finished:
            return
        try:
            await self._record(finished)
        except Exception:
            # Kept for the next flush; past the lease they become 'unknown', never resent.
            log.exception("recording %d send outcomes failed; will retry", len(finished))
            self._finished[:0] = finished

    async def _drain(self, recorder: asyncio.Task[None]) -> None:
        if self._sends:
            await asyncio.wait(self._sends)
        recorder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await recorder
        await self._flush()

    async def _deliver(self, message: Claimed, batch: Batch) -> Outcome:
        now = self._clock.now()
        outcome: Outcome = dict.fromkeys(claims.OUTCOME_COLUMNS) | {"due_at": message.due_at}
        reason = reason_not_to_send(message, now)
        if reason:
            return outcome | {"status": MessageStatus.SKIPPED, "status_reason": reason}
        held = held_for_quiet_hours(message, batch.policy, now)
        if isinstance(held, Held):
            return outcome | {"status": MessageStatus.PENDING, "due_at": held.until,
                              "status_reason": held.reason}  # fmt: skip
        if held is not None:
            return outcome | {"status": MessageStatus.SKIPPED, "status_reason": held}
        over_cap = batch.caps.reason_over_cap(message, now)
        if over_cap:
            return outcome | {"status": MessageStatus.SKIPPED, "status_reason": over_cap}
        batch.caps.count(message, now)
        assert message.phone is not None
        await self._rate.take(count_segments(message.body))
        # The premise again, after the wait for the rate: a change may have come meanwhile.
        async with self._sessions() as session:
            moot = await claims.premise_gone(session, message)
        if moot:
            return outcome | {
                "status": MessageStatus.SKIPPED,
                "status_reason": f"withdrawn: {moot}",
            }
        now = self._clock.now()
        outcome |= {"attempted_at": now, "sent_to": message.phone}
        validity = None
        if message.expires_at is not None:
            validity = int((message.expires_at - now).total_seconds())
            if validity < 1:
                return outcome | {"status": MessageStatus.SKIPPED, "status_reason": TOO_LATE}
        try:
            with tracing.sending_sms(message.traceparent, message_id=message.id, kind=message.kind):
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
                "status": MessageStatus.FAILED,
                "error_code": rejected.code,
                "status_reason": f"Twilio refused it: {rejected}",
            }
        except SendRefused:
            return outcome | self._retry(message, now, "Twilio unreachable (connection refused)")
        except Exception as error:
            log.warning("send of message %s ended in doubt: %s", message.id, type(error).__name__)
            return outcome | _in_doubt(f"no answer from Twilio ({type(error).__name__})")
        SENT.labels(message.kind).inc()
        return outcome | {
            "status": status.TWILIO_STATUSES.get(accepted.status, MessageStatus.QUEUED),
            "twilio_sid": accepted.sid,
            "sent_at": now,
        }

    def _callback_for(self, message_id: uuid.UUID) -> str | None:
        # Our id in the URL: a callback then resolves a send that ended in doubt.
        if self._status_callback is None:
            return None
        return f"{self._status_callback}?message={message_id}"

    def _retry(self, message: Claimed, now: datetime, why: str) -> Outcome:
        if message.attempts >= self._retrying.max_attempts:
            return {"status": MessageStatus.FAILED, "status_reason": f"{why}; gave up"}
        due = now + self._retrying.delay(message.attempts)
        if message.expires_at is not None and due >= message.expires_at:
            return {"status": MessageStatus.SKIPPED, "status_reason": f"{why}; too late to retry"}
        return {
            "status": MessageStatus.PENDING,
            "due_at": due,
            "status_reason": f"{why}; will retry",
        }

    async def _record(self, finished: list[tuple[Claimed, Outcome]]) -> None:
        """Store every outcome in one transaction, with their events."""
        async with self._sessions.begin() as session:
            await claims.record_outcomes(session, finished, now=self._clock.now())


def _in_doubt(why: str) -> Outcome:
    return {"status": MessageStatus.UNKNOWN, "status_reason": f"{why}: reconciling with Twilio"}
