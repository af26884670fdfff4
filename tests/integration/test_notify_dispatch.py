"""Sending exactly once through the real twilio SDK against the sandbox: claims, retries,
sends in doubt and their reconciliation."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notify.adapters.db import Message, outbox
from notify.adapters.sms import TwilioGateway
from notify.settings import NotifySettings
from notify.use_cases.deliveries import record_twilio_status
from notify.workers import claims
from notify.workers.dispatcher import Dispatcher, Retrying
from notify.workers.reconciler import Reconciler
from shared.clock import ManualClock
from tests.utils import notify as harness
from twilio_sandbox import FaultKind, RunningSandbox

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

NOW = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)


def dispatcher(
    sessions: async_sessionmaker[AsyncSession], gateway: TwilioGateway, clock: ManualClock
) -> Dispatcher:
    retrying = Retrying(base=timedelta(seconds=1), cap=timedelta(seconds=2))
    return Dispatcher(
        sessions=sessions, gateway=gateway, clock=clock, status_callback=None, retrying=retrying
    )


async def one_message(sessions: async_sessionmaker[AsyncSession], **values: object) -> Message:
    patient_id = await harness.register(sessions, now=NOW)
    message = harness.due_message(patient_id, "Mesocycle Paris: see you at 10:00.", due_at=NOW)
    for name, value in values.items():
        setattr(message, name, value)
    async with sessions.begin() as session:
        session.add(message)
    return message


async def test_two_dispatchers_send_each_of_10000_due_messages_exactly_once(
    sessions: async_sessionmaker[AsyncSession], gateway: TwilioGateway, sandbox: RunningSandbox
) -> None:
    patients = [
        await harness.register(sessions, now=NOW, phone=f"+336123456{i:02d}") for i in range(20)
    ]
    async with sessions.begin() as session:
        await session.execute(
            sa.insert(Message),
            [
                {
                    "id": uuid.uuid4(),
                    "patient_id": patients[i % 20],
                    # Answers are never capped: 500 reminders a patient would be (send-time caps).
                    "kind": "confirmation",
                    "body": f"Mesocycle Paris: booked {i}.",
                    "due_at": NOW,
                    "expires_at": NOW + timedelta(days=1),
                    "status": "pending",
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for i in range(10_000)
            ],
        )
    clock = ManualClock(NOW)
    pair = [
        Dispatcher(
            sessions=sessions, gateway=gateway, clock=clock, status_callback=None, batch_size=200
        )
        for _ in range(2)
    ]

    async def drain(one: Dispatcher) -> int:
        total = 0
        while claimed := await one.dispatch_due():
            total += claimed
        return total

    shares = await asyncio.gather(*(drain(one) for one in pair))

    bodies = [m.body for m in sandbox.store.messages()]
    assert len(bodies) == 10_000
    assert len(set(bodies)) == 10_000  # none twice
    assert sum(shares) == 10_000
    assert all(share > 0 for share in shares)  # both took part
    count = sa.select(Message.status, sa.func.count()).group_by(Message.status)
    async with sessions() as session:
        statuses = dict((await session.execute(count)).tuples().all())
    assert statuses == {"queued": 10_000}


async def test_twice_rate_limited_then_accepted_is_one_message(
    sessions: async_sessionmaker[AsyncSession], gateway: TwilioGateway, sandbox: RunningSandbox
) -> None:
    message = await one_message(sessions)
    sandbox.store.add_fault(FaultKind.RATE_LIMIT, 2)
    clock = ManualClock(NOW)
    sender = dispatcher(sessions, gateway, clock)

    for attempt in (1, 2):
        assert await sender.dispatch_due() == 1
        waiting = await harness.reload(sessions, message)
        assert (waiting.status, waiting.attempts) == ("pending", attempt)
        assert waiting.due_at > clock.now()  # backed off
        assert await sender.dispatch_due() == 0  # not before its time
        clock.advance(timedelta(seconds=5))
    assert await sender.dispatch_due() == 1

    sent = await harness.reload(sessions, message)
    assert (sent.status, sent.attempts) == ("queued", 3)
    assert [m.sid for m in sandbox.store.messages()] == [sent.twilio_sid]


async def test_a_timeout_after_acceptance_is_unknown_never_resent_then_reconciled(
    sessions: async_sessionmaker[AsyncSession], fresh_database: str, sandbox: RunningSandbox
) -> None:
    message = await one_message(sessions)
    sandbox.store.add_fault(FaultKind.SLOW_ACCEPT, 1, delay_seconds=2.0)
    clock = ManualClock(NOW)
    impatient = harness.settings_for(fresh_database, sandbox, send_timeout_seconds=0.5)
    async for gateway in harness.gateway_for(impatient):
        await _unknown_then_reconciled(sessions, gateway, sandbox, clock, message)


async def _unknown_then_reconciled(
    sessions: async_sessionmaker[AsyncSession],
    gateway: TwilioGateway,
    sandbox: RunningSandbox,
    clock: ManualClock,
    message: Message,
) -> None:
    sender = dispatcher(sessions, gateway, clock)

    assert await sender.dispatch_due() == 1
    doubtful = await harness.reload(sessions, message)
    assert doubtful.status == "unknown"
    assert doubtful.twilio_sid is None
    clock.advance(timedelta(hours=1))
    assert await sender.dispatch_due() == 0  # never blindly sent again
    assert len(sandbox.store.messages()) == 1

    reconciler = Reconciler(sessions=sessions, gateway=gateway, clock=clock)
    assert await reconciler.reconcile() == 1
    settled = await harness.reload(sessions, message)
    [accepted] = sandbox.store.messages()
    assert settled.twilio_sid == accepted.sid
    assert settled.status in ("queued", "sent", "delivered")
    assert len(sandbox.store.messages()) == 1


async def test_an_unknown_send_twilio_never_got_is_sent_again_after_the_grace_period(
    sessions: async_sessionmaker[AsyncSession], gateway: TwilioGateway, sandbox: RunningSandbox
) -> None:
    message = await one_message(
        sessions, status="unknown", attempted_at=NOW, sent_to="+33612345678"
    )
    clock = ManualClock(NOW)
    reconciler = Reconciler(sessions=sessions, gateway=gateway, clock=clock)
    assert await reconciler.reconcile() == 0  # Twilio's list may lag: wait
    clock.advance(timedelta(minutes=11))
    assert await reconciler.reconcile() == 1
    assert (await harness.reload(sessions, message)).status == "pending"
    assert await dispatcher(sessions, gateway, clock).dispatch_due() == 1
    assert len(sandbox.store.messages()) == 1


async def test_a_permanent_error_is_recorded_for_staff_and_not_retried(
    sessions: async_sessionmaker[AsyncSession], gateway: TwilioGateway, sandbox: RunningSandbox
) -> None:
    patient_id = await harness.register(sessions, now=NOW, phone="+15005550001")  # invalid: 21211
    message = harness.due_message(patient_id, "Mesocycle Paris: hello.", due_at=NOW)
    async with sessions.begin() as session:
        session.add(message)
    clock = ManualClock(NOW)
    assert await dispatcher(sessions, gateway, clock).dispatch_due() == 1
    failed = await harness.reload(sessions, message)
    assert (failed.status, failed.error_code) == ("failed", 21211)
    clock.advance(timedelta(hours=1))
    assert await dispatcher(sessions, gateway, clock).dispatch_due() == 0


async def test_a_refused_connection_is_retried(
    sessions: async_sessionmaker[AsyncSession], fresh_database: str, sandbox: RunningSandbox
) -> None:
    message = await one_message(sessions)
    closed = NotifySettings(database_url=fresh_database, twilio_api_base_url="http://127.0.0.1:9")
    async for gateway in harness.gateway_for(closed):
        assert await dispatcher(sessions, gateway, ManualClock(NOW)).dispatch_due() == 1
    retried = await harness.reload(sessions, message)
    assert retried.status == "pending"
    assert "unreachable" in (retried.status_reason or "")


async def test_a_message_missed_while_notify_was_down_is_skipped_once_useless(
    sessions: async_sessionmaker[AsyncSession], gateway: TwilioGateway, sandbox: RunningSandbox
) -> None:
    message = await one_message(sessions)
    clock = ManualClock(NOW + timedelta(days=2))  # past its use (expires after a day)
    assert await dispatcher(sessions, gateway, clock).dispatch_due() == 1
    skipped = await harness.reload(sessions, message)
    assert skipped.status == "skipped"
    assert "missed while notify was down" in (skipped.status_reason or "")
    assert sandbox.store.messages() == []


async def test_a_scheduled_message_over_the_daily_cap_when_due_is_skipped_with_why(
    sessions: async_sessionmaker[AsyncSession], gateway: TwilioGateway, sandbox: RunningSandbox
) -> None:
    patient_id = await harness.register(sessions, now=NOW)
    earlier = NOW - timedelta(hours=1)
    already = [
        harness.due_message(patient_id, f"Mesocycle Paris: answer {i}.", due_at=earlier,
                            kind="confirmation", status="queued", attempted_at=earlier)
        for i in range(4)  # the default daily cap, reached by answers sent since planning
    ]  # fmt: skip
    yesterday = NOW - timedelta(days=1)
    old = harness.due_message(
        patient_id, "Mesocycle Paris: old.", due_at=yesterday, kind="confirmation",
        status="delivered", attempted_at=yesterday,
    )  # fmt: skip
    reminder = harness.due_message(patient_id, "Mesocycle Paris: reminder.", due_at=NOW)
    answer = harness.due_message(patient_id, "Mesocycle Paris: booked.", due_at=NOW,
                                 kind="confirmation")  # fmt: skip
    async with sessions.begin() as session:
        session.add_all([*already, old, reminder, answer])

    assert await dispatcher(sessions, gateway, ManualClock(NOW)).dispatch_due() == 2

    capped = await harness.reload(sessions, reminder)
    assert capped.status == "skipped"
    assert "daily cap of 4" in (capped.status_reason or "")
    assert (await harness.reload(sessions, answer)).status == "queued"  # answers are never capped
    assert [m.body for m in sandbox.store.messages()] == ["Mesocycle Paris: booked."]


async def test_a_status_callback_before_the_send_is_recorded_keeps_both_and_one_event(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Twilio may call back (with our id in the URL) before the dispatcher stores its
    answer: the message keeps the callback's newer status and gains when it left and to
    which number; booking hears "delivered" and never an older "queued" after it."""
    message = await one_message(sessions)
    async with sessions.begin() as session:
        [claimed] = await claims.claim_due(session, now=NOW, limit=10, lease=timedelta(minutes=1))
    async with sessions.begin() as session:
        assert await record_twilio_status(
            session, sid="SM0001", twilio_status="delivered", error_code=None,
            message_id=message.id, now=NOW + timedelta(seconds=1),
        )  # fmt: skip
    answer = {"status": "queued", "twilio_sid": "SM0001", "sent_at": NOW,
              "attempted_at": NOW, "sent_to": "+33612345678", "due_at": NOW}  # fmt: skip
    async with sessions.begin() as session:
        await claims.record_outcomes(session, [(claimed, answer)], now=NOW + timedelta(seconds=2))

    stored = await harness.reload(sessions, message)
    assert (stored.status, stored.twilio_sid, stored.attempted_at, stored.sent_to) == (
        "delivered", "SM0001", NOW, "+33612345678"
    )  # fmt: skip
    assert stored.lease_until is None
    async with sessions() as session:
        told = await session.scalars(sa.select(outbox.c.data).order_by(outbox.c.id))
        assert [p["status"] for p in told if p.get("message_id") == str(message.id)] == [
            "delivered"
        ]
