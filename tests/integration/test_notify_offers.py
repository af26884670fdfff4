"""Earlier-slot offers in notify: texted while live, withdrawn when booking closes them,
checked again at send time, and NO passes them on (an event to booking); booking hears
the clinic's quiet hours, to make no offer in them."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notify.adapters.db import Message, Offer, outbox
from notify.adapters.sms import TwilioGateway
from notify.domain.policy import MessagePolicy
from notify.use_cases.clinic_policy import save_policy
from notify.use_cases.replies import receive_sms
from notify.use_cases.scheduling import close_offer, schedule_offer
from notify.workers.dispatcher import Dispatcher
from shared.clock import ManualClock
from shared.contracts.booking import OfferExpired, OfferMade, OfferStatus
from tests.utils import notify as harness
from twilio_sandbox import RunningSandbox

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 3, 20, 10, 0, tzinfo=PARIS)
FREED = datetime(2026, 3, 23, 9, 30, tzinfo=PARIS)
PHONE = "+33612345678"


def offer_to(patient_id: uuid.UUID, *, claim_minutes: int = 30) -> OfferMade:
    return OfferMade(
        offer_id=uuid.uuid4(), patient_id=patient_id, booking_request_id=uuid.uuid4(),
        session_number=2, total_sessions=6, appointment_id=None, practitioner_id=uuid.uuid4(),
        location_time_zone="Europe/Paris", starts_at=FREED,
        ends_at=FREED + timedelta(minutes=45),
        link_url="https://book.example-clinic.com/book/" + "t" * 43,
        claim_by=NOW + timedelta(minutes=claim_minutes),
    )  # fmt: skip


async def made(
    sessions: async_sessionmaker[AsyncSession], offer: OfferMade, *, now: datetime = NOW
) -> Message:
    async with sessions.begin() as session:
        await schedule_offer(session, offer=offer, clinic=harness.CLINIC, now=now)
    return await message_of(sessions, offer)


async def message_of(sessions: async_sessionmaker[AsyncSession], offer: OfferMade) -> Message:
    async with sessions() as session:
        [message] = await session.scalars(
            sa.select(Message).where(Message.offer_id == offer.offer_id)
        )
    return message


async def told_booking(sessions: async_sessionmaker[AsyncSession]) -> list[dict[str, Any]]:
    async with sessions() as session:
        rows = await session.execute(sa.select(outbox.c.type, outbox.c.data).order_by(outbox.c.id))
    return [{"type": t, **d} for t, d in rows]


def dispatcher(
    sessions: async_sessionmaker[AsyncSession], gateway: TwilioGateway, clock: ManualClock
) -> Dispatcher:
    return Dispatcher(sessions=sessions, gateway=gateway, clock=clock, status_callback=None)


async def test_a_live_offer_is_texted_at_once_with_its_link_and_deadline(
    sessions: async_sessionmaker[AsyncSession], gateway: TwilioGateway, sandbox: RunningSandbox
) -> None:
    patient_id = await harness.register(sessions, now=NOW, phone=PHONE)
    offer = offer_to(patient_id)
    message = await made(sessions, offer)
    assert (message.kind, message.status, message.expires_at) == (
        "offer",
        "pending",
        offer.claim_by,
    )

    await dispatcher(sessions, gateway, ManualClock(NOW)).dispatch_due()
    [sms] = sandbox.store.messages()
    assert sms.to == PHONE
    assert sms.body == (
        "Mesocycle Paris: a place freed up on Mon 23 Mar at 09:30 for session 2 of 6. It is"
        f" yours if you take it by 10:30: {offer.link_url} Reply NO to pass it on."
    )
    [status] = [e for e in await told_booking(sessions) if e["type"].endswith("status_changed.v1")]
    assert (status["kind"], status["offer_id"]) == ("offer", str(offer.offer_id))


async def test_an_offer_to_move_earlier_names_the_session_it_would_move_in_french(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    patient_id = await harness.register(sessions, now=NOW, language="fr")
    offer = offer_to(patient_id).model_copy(update={"appointment_id": uuid.uuid4()})
    message = await made(sessions, offer)
    # notify has no copy of that appointment here: the text still says what is offered.
    assert message.body.startswith("Mesocycle Paris : une place s'est libérée le lun. 23 mars")
    assert "Répondez NON pour la laisser." in message.body


async def test_an_offer_closed_before_it_goes_out_is_never_sent(
    sessions: async_sessionmaker[AsyncSession], gateway: TwilioGateway, sandbox: RunningSandbox
) -> None:
    patient_id = await harness.register(sessions, now=NOW)
    offer = offer_to(patient_id)
    await made(sessions, offer)
    closed = OfferExpired(
        offer_id=offer.offer_id, patient_id=patient_id, status=OfferStatus.EXPIRED
    )
    async with sessions.begin() as session:
        await close_offer(session, closed=closed, now=NOW)
    message = await message_of(sessions, offer)
    assert (message.status, message.status_reason) == (
        "skipped",
        "withdrawn: the offer was expired",
    )
    await dispatcher(sessions, gateway, ManualClock(NOW)).dispatch_due()
    assert sandbox.store.messages() == []

    # A late replay of the offer changes nothing: it stays closed, nothing is planned.
    async with sessions.begin() as session:
        await schedule_offer(session, offer=offer, clinic=harness.CLINIC, now=NOW)
        assert (await session.get(Offer, offer.offer_id)).status == "expired"  # type: ignore[union-attr]
        count = await session.scalar(
            sa.select(sa.func.count()).where(Message.offer_id == offer.offer_id)
        )
    assert count == 1


async def test_the_dispatcher_checks_the_offer_is_still_live_when_it_sends(
    sessions: async_sessionmaker[AsyncSession], gateway: TwilioGateway, sandbox: RunningSandbox
) -> None:
    """The closing event lands after the message was claimed: the send-time check skips it."""
    patient_id = await harness.register(sessions, now=NOW)
    offer = offer_to(patient_id)
    await made(sessions, offer)
    async with sessions.begin() as session:
        await session.execute(
            sa.update(Offer).where(Offer.id == offer.offer_id).values(status="claimed")
        )
    await dispatcher(sessions, gateway, ManualClock(NOW)).dispatch_due()
    assert sandbox.store.messages() == []
    message = await message_of(sessions, offer)
    assert message.status == "skipped"
    assert message.status_reason == "withdrawn: the offer was claimed"


async def test_an_offer_notify_is_late_with_past_its_deadline_is_not_sent(
    sessions: async_sessionmaker[AsyncSession], gateway: TwilioGateway, sandbox: RunningSandbox
) -> None:
    patient_id = await harness.register(sessions, now=NOW)
    offer = offer_to(patient_id)
    await made(sessions, offer)
    await dispatcher(sessions, gateway, ManualClock(offer.claim_by)).dispatch_due()
    assert sandbox.store.messages() == []
    message = await message_of(sessions, offer)
    assert message.status == "skipped"
    assert "too late" in (message.status_reason or "")


async def test_reply_no_passes_the_live_offer_on_and_nothing_else(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    patient_id = await harness.register(sessions, now=NOW, phone=PHONE)

    async def reply(body: str, now: datetime) -> str:
        async with sessions.begin() as session:
            return await receive_sms(
                session, sid=f"SM{uuid.uuid4().hex}", sender=PHONE, body=body,
                clinic=harness.CLINIC, now=now,
            )  # fmt: skip

    assert await reply("No", NOW) == "ignored: no live offer"
    offer = offer_to(patient_id)
    await made(sessions, offer)
    assert await reply("no.", NOW + timedelta(minutes=5)) == "offer passed on"
    [refused] = [e for e in await told_booking(sessions) if e["type"].endswith("offer_refused.v1")]
    assert (refused["offer_id"], refused["patient_id"]) == (str(offer.offer_id), str(patient_id))
    # Past its claim window, NO finds nothing to pass on (booking expires it itself).
    assert await reply("NON", offer.claim_by) == "ignored: no live offer"
    async with sessions() as session:
        patient_opted_out = await session.scalar(
            sa.text("SELECT opted_out_at FROM patient WHERE id = :id"), {"id": patient_id}
        )
    assert patient_opted_out is None  # NO is not an opt-out


async def test_each_policy_save_tells_booking_its_quiet_hours(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Booking makes no offer in the clinic's quiet hours: each save of notify's policy
    sends them, with a revision so a late older one changes nothing there."""
    for start, end in ((time(20), time(9)), (time(22), time(7))):
        policy = MessagePolicy(quiet_hours_start=start, quiet_hours_end=end)
        async with sessions.begin() as session:
            await save_policy(session, policy=policy, clinic="Mesocycle", by="admin", now=NOW)
    told = [e for e in await told_booking(sessions) if e["type"].endswith("quiet_hours_changed.v1")]
    assert [(e["quiet_hours_start"], e["quiet_hours_end"], e["revision"]) for e in told] == [
        ("20:00:00", "09:00:00", 1),
        ("22:00:00", "07:00:00", 2),
    ]
