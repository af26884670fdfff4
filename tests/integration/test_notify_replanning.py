"""Re-planning beyond appointment events: a new policy re-plans what is still pending, and
START plans again what was skipped while the patient had opted out."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notify.adapters.db import Message
from notify.domain.policy import IfBookedLate, MessagePolicy, Timing
from notify.use_cases.clinic_policy import save_policy
from notify.use_cases.policy_replanning import replan_under_new_policy
from notify.use_cases.replies import receive_sms
from notify.use_cases.scheduling import apply_appointment_change
from shared.contracts.booking import AppointmentBooked, AppointmentSnapshot
from tests.utils import notify as harness

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

NOW = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)  # 11:00 in Paris
PHONE = "+33612345678"


async def book(
    sessions: async_sessionmaker[AsyncSession], patient_id: uuid.UUID, starts_at: datetime,
    *, now: datetime,
) -> uuid.UUID:  # fmt: skip
    appointment_id = uuid.uuid4()
    snapshot = AppointmentSnapshot(
        appointment_id=appointment_id, version=1, status="booked", patient_id=patient_id,
        plan_id=None, booking_request_id=None, session_number=2, total_sessions=6,
        treatment="Hair regrowth", numbing_cream_advised=False, practitioner_id=uuid.uuid4(),
        room_id=uuid.uuid4(), location_id=uuid.uuid4(), location_time_zone="Europe/Paris",
        starts_at=starts_at, ends_at=starts_at + timedelta(minutes=45),
    )  # fmt: skip
    async with sessions.begin() as session:
        await apply_appointment_change(
            session, change=AppointmentBooked, snapshot=snapshot, clinic=harness.CLINIC, now=now
        )
    return appointment_id


async def live(
    sessions: async_sessionmaker[AsyncSession], appointment_id: uuid.UUID
) -> dict[str, Message]:
    async with sessions() as session:
        found = await session.scalars(
            sa.select(Message).where(
                Message.appointment_id == appointment_id, Message.status != "replaced"
            )
        )
        return {m.kind: m for m in found}


async def sms(sessions: async_sessionmaker[AsyncSession], body: str, now: datetime) -> str:
    async with sessions.begin() as session:
        return await receive_sms(
            session, sid=f"SM{uuid.uuid4().hex}", sender=PHONE, body=body,
            clinic=harness.CLINIC, now=now,
        )  # fmt: skip


async def test_a_new_policy_replans_pending_messages_of_upcoming_appointments_in_batches(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    patient_id = await harness.register(sessions, now=NOW, phone=PHONE, needle_sensitive=False)
    first = await book(sessions, patient_id, NOW + timedelta(days=5), now=NOW)
    second = await book(sessions, patient_id, NOW + timedelta(days=12), now=NOW)
    past = await book(sessions, patient_id, NOW + timedelta(hours=3), now=NOW - timedelta(days=3))
    before = await live(sessions, past)

    three_hours = MessagePolicy(
        reminder_2h=Timing(minutes_before=180, if_booked_late=IfBookedLate.SKIP)
    )
    later = NOW + timedelta(hours=4)  # the third session has started
    async with sessions.begin() as session:
        await save_policy(session, policy=three_hours, clinic="Mesocycle Paris", by="admin",
                          now=later)  # fmt: skip
    replanned = []
    for _ in range(3):  # batches of one: bounded transactions
        async with sessions.begin() as session:
            replanned.append(
                await replan_under_new_policy(session, clinic=harness.CLINIC, now=later, limit=1)
            )
    assert replanned == [1, 1, 0]  # two upcoming appointments, then nothing stale

    for appointment_id, days in ((first, 5), (second, 12)):
        messages = await live(sessions, appointment_id)
        starts = NOW + timedelta(days=days)
        assert messages["reminder_2h"].due_at == starts - timedelta(hours=3)
        assert messages["reminder_2h"].status == "pending"
        assert messages["reminder_24h"].due_at == starts - timedelta(days=1)
        # The confirmation already owed stays owed, once.
        assert messages["confirmation"].status == "pending"
    past_after = await live(sessions, past)
    assert {k: (m.id, m.due_at) for k, m in past_after.items()} == {
        k: (m.id, m.due_at) for k, m in before.items()
    }  # a session already under way is left alone


async def test_start_plans_again_what_was_skipped_while_opted_out_for_future_sessions_only(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    patient_id = await harness.register(sessions, now=NOW, phone=PHONE, needle_sensitive=False)
    upcoming = await book(sessions, patient_id, NOW + timedelta(days=5), now=NOW)
    soon = await book(sessions, patient_id, NOW + timedelta(hours=5), now=NOW)

    assert await sms(sessions, "STOP", NOW + timedelta(minutes=1)) == "opted out"
    stopped = await live(sessions, upcoming)
    assert {m.status for m in stopped.values()} == {"skipped"}

    started_at = NOW + timedelta(hours=6)  # the second session has begun meanwhile
    assert await sms(sessions, "START", started_at) == "opted back in"

    again = await live(sessions, upcoming)
    starts = NOW + timedelta(days=5)
    assert again["reminder_24h"].status == "pending"
    assert again["reminder_24h"].due_at == starts - timedelta(days=1)
    assert again["reminder_2h"].status == "pending"
    # The patient never heard of the booking: the confirmation is owed again, now.
    assert (again["confirmation"].status, again["confirmation"].due_at) == (
        "pending", started_at,
    )  # fmt: skip
    assert all(m.id not in {s.id for s in stopped.values()} for m in again.values())
    past = await live(sessions, soon)
    assert {m.status for m in past.values()} == {"skipped"}  # not planned again
