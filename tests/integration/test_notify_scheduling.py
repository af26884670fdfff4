"""The clinic's default policy end to end: from appointment events to the SMS the sandbox
receives, at the expected local times, and replacement on every change."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notify.adapters.db import Message
from notify.adapters.sms import TwilioGateway
from notify.use_cases.scheduling import apply_appointment_change, schedule_invitation
from notify.workers.dispatcher import Dispatcher
from notify.workers.rate_limit import SegmentRate
from shared.clock import ManualClock
from shared.contracts.booking import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentHeld,
    AppointmentRescheduled,
    AppointmentSnapshot,
    BookingInvitationIssued,
)
from tests.polling import eventually
from tests.utils import notify as harness
from twilio_sandbox import RunningSandbox
from twilio_sandbox.resources import Direction

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PARIS = ZoneInfo("Europe/Paris")
# Clocks went forward in Paris on Sunday 29 March 2026 at 02:00.
SESSION = datetime(2026, 3, 30, 8, 30, tzinfo=PARIS)
BOOKED_AT = datetime(2026, 3, 20, 10, 0, tzinfo=PARIS)


def snapshot(
    patient_id: uuid.UUID, appointment_id: uuid.UUID, *, version: int, starts_at: datetime,
    status: str = "booked", numbing_cream_advised: bool = False,
) -> AppointmentSnapshot:  # fmt: skip
    return AppointmentSnapshot(
        appointment_id=appointment_id, version=version, status=status, patient_id=patient_id,
        plan_id=None, booking_request_id=None, session_number=3, total_sessions=8,
        treatment="Cellulite mesotherapy", numbing_cream_advised=numbing_cream_advised,
        practitioner_id=uuid.uuid4(), room_id=uuid.uuid4(), location_id=uuid.uuid4(),
        location_time_zone="Europe/Paris", starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=45),
    )  # fmt: skip


async def change(
    sessions: async_sessionmaker[AsyncSession],
    what: type[AppointmentSnapshot],
    event: AppointmentSnapshot,
    now: datetime,
) -> None:
    async with sessions.begin() as session:
        await apply_appointment_change(
            session, change=what, snapshot=event, clinic=harness.CLINIC, now=now
        )


async def messages_of(
    sessions: async_sessionmaker[AsyncSession], appointment_id: uuid.UUID
) -> list[Message]:
    async with sessions() as session:
        found = await session.scalars(
            sa.select(Message)
            .where(Message.appointment_id == appointment_id)
            .order_by(Message.due_at, Message.kind)
        )
        return list(found)


def local(instant: datetime) -> str:
    return f"{instant.astimezone(PARIS):%a %d %H:%M}"


async def test_needle_sensitive_patient_booked_at_0830_the_day_after_the_dst_change(
    sessions: async_sessionmaker[AsyncSession], gateway: TwilioGateway, sandbox: RunningSandbox
) -> None:
    patient_id = await harness.register(sessions, now=BOOKED_AT, needle_sensitive=True)
    appointment_id = uuid.uuid4()
    event = snapshot(patient_id, appointment_id, version=1, starts_at=SESSION)
    await change(sessions, AppointmentBooked, event, BOOKED_AT)

    planned = {
        m.kind: (m.status, local(m.due_at), m.status_reason)
        for m in await messages_of(sessions, appointment_id)
    }
    assert planned["confirmation"][:2] == ("pending", "Fri 20 10:00")
    assert planned["cream_ready"][:2] == ("pending", "Sat 28 08:30")  # CET, two days before
    assert planned["reminder_24h"][:2] == ("pending", "Sun 29 08:30")  # CEST, same wall time
    # Apply at 07:00 falls in quiet hours: the evening before says when to apply.
    assert planned["cream_apply"][:2] == ("pending", "Sun 29 20:30")
    assert "quiet hours" in (planned["cream_apply"][2] or "")
    assert planned["reminder_2h"][0] == "skipped"
    assert "folded into the numbing-cream message" in (planned["reminder_2h"][2] or "")

    clock = ManualClock(BOOKED_AT)
    dispatcher = Dispatcher(sessions=sessions, gateway=gateway, clock=clock, status_callback=None)
    received: list[tuple[str, str]] = []
    for moment in ("2026-03-20 10:00", "2026-03-28 08:30", "2026-03-29 08:30",
                   "2026-03-29 20:30", "2026-03-30 08:29"):  # fmt: skip
        clock.set(datetime.fromisoformat(moment).replace(tzinfo=PARIS))
        await dispatcher.dispatch_due()
        received += [
            (local(clock.now()), m.body) for m in sandbox.store.messages()[len(received) :]
        ]
    assert [when for when, _ in received] == [
        "Fri 20 10:00", "Sat 28 08:30", "Sun 29 08:30", "Sun 29 20:30"
    ]  # fmt: skip
    bodies = [body for _, body in received]
    assert "session 3 of 8" in bodies[0]
    assert "Mon 30 Mar at 08:30" in bodies[0]
    assert "numbing cream ready" in bodies[1]
    assert "reminder of your appointment on Mon 30 Mar at 08:30" in bodies[2]
    assert "apply your numbing cream on Mon 30 Mar at 07:00" in bodies[3]
    assert all("cellulite" not in body.lower() for body in bodies)  # privacy by default


async def test_rescheduled_five_times_leaves_one_set_at_the_final_time(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    patient_id = await harness.register(sessions, now=BOOKED_AT, needle_sensitive=False)
    appointment_id = uuid.uuid4()
    now = BOOKED_AT
    await change(sessions, AppointmentBooked, snapshot(patient_id, appointment_id, version=1,
                                              starts_at=SESSION), now)  # fmt: skip
    final = SESSION
    for version in range(2, 7):
        final = SESSION + timedelta(days=version, hours=version)
        now += timedelta(minutes=1)
        moved = snapshot(patient_id, appointment_id, version=version, starts_at=final)
        await change(sessions, AppointmentRescheduled, moved, now)
    # A late, older event changes nothing.
    await change(sessions, AppointmentRescheduled, snapshot(patient_id, appointment_id, version=3,
                                                   starts_at=SESSION), now)  # fmt: skip

    messages = await messages_of(sessions, appointment_id)
    live = [m for m in messages if m.status != "replaced"]
    assert sorted(m.kind for m in live) == ["confirmation", "reminder_24h", "reminder_2h"]
    assert {m.appointment_version for m in live} == {6}
    assert {m.session_starts_at for m in live} == {final}
    [confirmation] = [m for m in live if m.kind == "confirmation"]
    assert f"{final.astimezone(PARIS):%H:%M}" in confirmation.body
    assert "moved to" in confirmation.body
    assert all(m.status == "replaced" for m in messages if m.appointment_version != 6)


async def test_a_cancelled_appointment_gets_a_notice_and_nothing_else(
    sessions: async_sessionmaker[AsyncSession], gateway: TwilioGateway, sandbox: RunningSandbox
) -> None:
    patient_id = await harness.register(sessions, now=BOOKED_AT)
    appointment_id = uuid.uuid4()
    await change(sessions, AppointmentBooked, snapshot(patient_id, appointment_id, version=1,
                                              starts_at=SESSION), BOOKED_AT)  # fmt: skip
    clock = ManualClock(BOOKED_AT)
    await Dispatcher(sessions=sessions, gateway=gateway, clock=clock,
                     status_callback=None).dispatch_due()  # fmt: skip
    cancelled = snapshot(patient_id, appointment_id, version=2, starts_at=SESSION,
                         status="cancelled")  # fmt: skip
    await change(sessions, AppointmentCancelled, cancelled, BOOKED_AT + timedelta(hours=1))

    live: dict[str, Any] = {
        m.kind: m.status
        for m in await messages_of(sessions, appointment_id)
        if m.status not in ("replaced", "skipped")  # skipped: decisions recorded at booking
    }
    assert live == {"confirmation": "queued", "cancellation": "pending"}


async def test_a_late_booking_records_why_each_message_is_folded_or_skipped(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    patient_id = await harness.register(sessions, now=BOOKED_AT, needle_sensitive=True)
    appointment_id = uuid.uuid4()
    late = SESSION - timedelta(hours=10, minutes=30)  # Sunday 22:00, in quiet hours
    await change(sessions, AppointmentBooked, snapshot(patient_id, appointment_id, version=1,
                                              starts_at=SESSION), late)  # fmt: skip
    by_kind = {m.kind: m for m in await messages_of(sessions, appointment_id)}
    assert by_kind["confirmation"].status == "pending"
    assert sorted(by_kind["confirmation"].carries) == ["cream_apply", "cream_ready"]
    assert "Apply it on Mon 30 Mar at 07:00" in by_kind["confirmation"].body
    for kind in ("cream_ready", "cream_apply", "reminder_24h", "reminder_2h"):
        assert by_kind[kind].status == "skipped"
        assert by_kind[kind].status_reason


async def test_a_message_claimed_just_before_its_appointment_is_cancelled_is_not_sent(
    sessions: async_sessionmaker[AsyncSession], gateway: TwilioGateway, sandbox: RunningSandbox
) -> None:
    """The race at send time: the dispatcher holds the claimed confirmation (the sender's
    rate makes it wait) while the cancellation arrives; it checks again and sends nothing."""
    patient_id = await harness.register(sessions, now=BOOKED_AT)
    appointment_id = uuid.uuid4()
    await change(sessions, AppointmentBooked, snapshot(patient_id, appointment_id, version=1,
                                              starts_at=SESSION), BOOKED_AT)  # fmt: skip
    rate = SegmentRate(1.0, 1)
    await rate.take(1)  # the sender has just used its burst: the next send waits a second
    dispatcher = Dispatcher(sessions=sessions, gateway=gateway, clock=ManualClock(BOOKED_AT),
                            status_callback=None, rate=rate)  # fmt: skip
    sending = asyncio.create_task(dispatcher.dispatch_due())

    async def claimed() -> bool:
        return any(m.status == "sending" for m in await messages_of(sessions, appointment_id))

    await eventually(claimed, what="the dispatcher to claim the confirmation")
    cancelled = snapshot(patient_id, appointment_id, version=2, starts_at=SESSION,
                         status="cancelled")  # fmt: skip
    await change(sessions, AppointmentCancelled, cancelled, BOOKED_AT)
    assert await sending == 1

    found = {
        m.kind: (m.status, m.status_reason) for m in await messages_of(sessions, appointment_id)
    }
    assert found["confirmation"] == (
        "skipped",
        "withdrawn: the appointment was cancelled or is over",
    )
    # Nor a cancellation notice for a booking the patient never heard of.
    await Dispatcher(sessions=sessions, gateway=gateway, clock=ManualClock(BOOKED_AT),
                     status_callback=None).dispatch_due()  # fmt: skip
    notice = [m for m in await messages_of(sessions, appointment_id) if m.kind == "cancellation"]
    assert [(m.status, m.status_reason) for m in notice] in (
        [],
        [("skipped", "withdrawn: the patient was never told of the booking")],
    )
    assert sandbox.store.messages(Direction.OUTBOUND_API) == []


def invitation_about(patient_id: uuid.UUID, appointment_id: uuid.UUID) -> BookingInvitationIssued:
    """Auto mode's text for a slot held for the patient (or one to move it, after "R")."""
    return BookingInvitationIssued(
        patient_id=patient_id, plan_id=uuid.uuid4(), booking_request_id=uuid.uuid4(),
        session_number=3, total_sessions=8, earliest_date=None, latest_date=None,
        link_url="https://book.example/book/t0ken", link_expires_at=SESSION,
        appointment_id=appointment_id,
    )  # fmt: skip


async def invite(
    sessions: async_sessionmaker[AsyncSession], invitation: BookingInvitationIssued, now: datetime
) -> None:
    async with sessions.begin() as session:
        await schedule_invitation(session, invitation=invitation, clinic=harness.CLINIC, now=now)


async def test_an_invitation_about_a_held_slot_is_withdrawn_when_the_hold_is_cancelled(
    sessions: async_sessionmaker[AsyncSession], gateway: TwilioGateway, sandbox: RunningSandbox
) -> None:
    """The invitation waits for quiet hours to end; the hold is cancelled meanwhile."""
    night = datetime(2026, 3, 20, 23, 0, tzinfo=PARIS)
    patient_id = await harness.register(sessions, now=night)
    hold_id = uuid.uuid4()
    held = snapshot(patient_id, hold_id, version=1, starts_at=SESSION, status="held")
    await change(sessions, AppointmentHeld, held, night)
    await invite(sessions, invitation_about(patient_id, hold_id), night)
    [waiting] = await messages_of(sessions, hold_id)
    assert (waiting.kind, waiting.status) == ("invitation", "pending")

    cancelled = snapshot(patient_id, hold_id, version=2, starts_at=SESSION, status="cancelled")
    await change(sessions, AppointmentCancelled, cancelled, night + timedelta(minutes=5))
    [withdrawn] = await messages_of(sessions, hold_id)
    assert (withdrawn.status, withdrawn.status_reason) == (
        "skipped",
        "withdrawn: appointment cancelled",
    )
    morning = ManualClock(night + timedelta(hours=10))
    await Dispatcher(sessions=sessions, gateway=gateway, clock=morning,
                     status_callback=None).dispatch_due()  # fmt: skip
    assert sandbox.store.messages(Direction.OUTBOUND_API) == []


async def test_an_invitation_arriving_after_its_hold_was_cancelled_is_not_sent(
    sessions: async_sessionmaker[AsyncSession], gateway: TwilioGateway, sandbox: RunningSandbox
) -> None:
    """Topics are not ordered with each other: the check at send time catches it."""
    patient_id = await harness.register(sessions, now=BOOKED_AT)
    hold_id = uuid.uuid4()
    cancelled = snapshot(patient_id, hold_id, version=2, starts_at=SESSION, status="cancelled")
    await change(sessions, AppointmentCancelled, cancelled, BOOKED_AT)
    await invite(sessions, invitation_about(patient_id, hold_id), BOOKED_AT)

    await Dispatcher(sessions=sessions, gateway=gateway, clock=ManualClock(BOOKED_AT),
                     status_callback=None).dispatch_due()  # fmt: skip
    [invitation] = [m for m in await messages_of(sessions, hold_id) if m.kind == "invitation"]
    assert (invitation.status, invitation.status_reason) == (
        "skipped",
        "withdrawn: the appointment is cancelled",
    )
    assert sandbox.store.messages(Direction.OUTBOUND_API) == []


async def test_moving_an_appointment_keeps_the_invitation_to_move_it_and_its_reminders_apart(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """After "R", the link to move it themselves stays while the appointment is on; the
    re-plan of its reminders neither replaces nor counts it."""
    patient_id = await harness.register(sessions, now=BOOKED_AT, needle_sensitive=False)
    appointment_id = uuid.uuid4()
    await change(sessions, AppointmentBooked, snapshot(patient_id, appointment_id, version=1,
                                              starts_at=SESSION), BOOKED_AT)  # fmt: skip
    await invite(sessions, invitation_about(patient_id, appointment_id), BOOKED_AT)
    moved = snapshot(patient_id, appointment_id, version=2, starts_at=SESSION + timedelta(days=1))
    await change(sessions, AppointmentRescheduled, moved, BOOKED_AT + timedelta(minutes=1))

    live = sorted(
        (m.kind, m.appointment_version)
        for m in await messages_of(sessions, appointment_id)
        if m.status == "pending"
    )
    assert live == [
        ("confirmation", 2), ("invitation", None), ("reminder_24h", 2), ("reminder_2h", 2)
    ]  # fmt: skip
