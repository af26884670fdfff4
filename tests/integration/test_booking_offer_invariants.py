"""Offers never break a course's rules, whatever is cancelled when: random courses, random
bookings, random cancellations at random hours (quiet ones too), through the real API
and database; every offer made is then judged against the state it was made in."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from booking.adapters.db import Appointment, BookingRequest, Patient, SlotOffer
from shared.clock import is_quiet
from shared.contracts.booking import ACTIVE, UPCOMING
from shared.contracts.plans import PatientRegistered
from tests.utils.booking import Booking, running_booking

PARIS = ZoneInfo("Europe/Paris")
NOTICE, DAILY_CAP = timedelta(hours=2), 2


@pytest.fixture
async def booking(fresh_database: str, bootstrap_servers: str) -> AsyncIterator[Booking]:
    async with running_booking(fresh_database, bootstrap_servers, db_pool_size=10) as running:
        await running.seed_clinic(practitioners=2, rooms=2)
        yield running


async def random_clinic(booking: Booking, rng: random.Random) -> list[str]:
    """Courses of 1-3 sessions over the next weeks, each session booked at random (or left
    open); half the patients use their link, some have earlier offers set by staff. The
    appointments booked."""
    today = booking.clock.now().astimezone(PARIS).date()
    booked = []
    for _ in range(14):
        patient_id = uuid.uuid4()
        await booking.apply(
            PatientRegistered(
                patient_id=patient_id, full_name="P", phone="+33612345678",
                time_zone="Europe/Paris", language="fr", sms_consent=True,
                needle_sensitive=False,
            )
        )  # fmt: skip
        if rng.random() < 0.3:
            choice = rng.choice([True, False])
            await booking.client.put(
                f"/v1/patients/{patient_id}/earlier-offers", json={"earlier_offers": choice}
            )
        cycle = await booking.cycle(
            sessions=rng.randint(1, 3), first=today + timedelta(days=rng.randint(1, 6)),
            every_days=rng.choice([5, 7]), slack_days=rng.randint(1, 3),
            patient_id=patient_id, min_gap_days=rng.choice([3, 5]),
        )  # fmt: skip
        requests = await booking.requests(cycle)
        if rng.random() < 0.5:  # a patient who books online: earlier offers on
            link = await booking.patient_link(requests[0]["id"])
            await booking.client.get("/v1/self-booking/requests", headers=link)
        for request in requests:
            if rng.random() < 0.55:
                day = date.fromisoformat(request["target_date"])
                starts = datetime.combine(day, time(rng.randint(8, 18), rng.choice([0, 30])), PARIS)
                answer = await booking.post("/v1/appointments", {
                    "booking_request_id": request["id"],
                    "practitioner_id": rng.choice(booking.practitioner_ids),
                    "room_id": rng.choice(booking.room_ids), "starts_at": starts.isoformat(),
                })  # fmt: skip
                if answer.status_code == 201:
                    booked.append(answer.json()["id"])
    return booked


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_offers_keep_windows_spacing_notice_quiet_hours_caps_and_choices(
    booking: Booking, seed: int
) -> None:
    rng = random.Random(seed)
    booked = await random_clinic(booking, rng)
    rng.shuffle(booked)
    judged = 0
    for appointment_id in booked[:18]:
        # Somewhere in the next hours, quiet ones included.
        booking.clock.advance(timedelta(minutes=rng.randint(10, 300)))
        before = await offer_ids(booking)
        answer = await booking.post(f"/v1/appointments/{appointment_id}/cancel", {})
        assert answer.status_code in (200, 409), answer.text
        for offer_id in await offer_ids(booking) - before:
            await judge(booking, offer_id, freed_by=appointment_id)
            judged += 1
    assert judged >= 3  # the scenario made offers to judge


async def offer_ids(booking: Booking) -> set[uuid.UUID]:
    async with booking.runtime.sessions() as session:
        return set(await session.scalars(sa.select(SlotOffer.id)))


async def judge(booking: Booking, offer_id: uuid.UUID, *, freed_by: str) -> None:
    """The offer as made now, against the database as it stands at this instant."""
    now = booking.clock.now()
    async with booking.runtime.sessions() as session:
        offer = await session.get(SlotOffer, offer_id)
        assert offer is not None
        request = await session.get(BookingRequest, offer.booking_request_id)
        assert request is not None
        patient = await session.get(Patient, offer.patient_id)
        freed = await session.get(Appointment, uuid.UUID(freed_by))
        assert freed is not None
        others = (
            await session.execute(
                sa.select(BookingRequest.session_number, Appointment.starts_at, Appointment.id)
                .join(Appointment, Appointment.booking_request_id == BookingRequest.id)
                .where(
                    BookingRequest.plan_id == request.plan_id,
                    BookingRequest.id != request.id,
                    Appointment.status.in_(ACTIVE),
                )
            )
        ).all()
        mine = await session.scalar(
            sa.select(Appointment).where(
                Appointment.booking_request_id == request.id, Appointment.status.in_(UPCOMING)
            )
        )
        made_today = await session.scalar(
            sa.select(sa.func.count()).where(
                SlotOffer.patient_id == offer.patient_id,
                SlotOffer.created_at
                >= datetime.combine(now.astimezone(PARIS).date(), time(0), PARIS),
            )
        )
    day = offer.freed_from.astimezone(PARIS).date()
    said = f"offer {offer_id} of {offer.freed_from} to session {request.session_number}"
    assert request.id != freed.booking_request_id, f"{said}: its own freed time"
    assert request.earliest_date <= day <= request.latest_date, f"{said}: outside the window"
    assert offer.freed_from - now >= NOTICE, f"{said}: inside the minimum notice"
    assert not is_quiet(now, PARIS, time(21), time(8)), f"{said}: made in quiet hours"
    assert made_today is not None
    assert made_today <= DAILY_CAP, f"{said}: over the daily cap"
    for number, starts_at, _ in others:
        gap = abs((starts_at.astimezone(PARIS).date() - day).days)
        wanted = (request.min_gap_days or 0) * abs(number - request.session_number)
        assert gap >= wanted, f"{said}: {gap} days from session {number}"
    if offer.appointment_id is None:
        assert request.status == "open", f"{said}: to a session that is {request.status}"
    else:
        assert mine is not None
        assert mine.id == offer.appointment_id
        assert offer.freed_from < mine.starts_at, f"{said}: not earlier than its booking"
        assert patient is None or patient.earlier_offers is not False, f"{said}: opted out"
