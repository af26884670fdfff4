"""Earlier-slot offers against the real database: a cancellation frees time, offered to
the best candidate first; when nobody claims it in time, to the next."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from booking.workers.sweeper import Sweeper
from tests.utils.booking import Booking, running_booking

PARIS = ZoneInfo("Europe/Paris")
DAY = date(2026, 1, 8)  # a Thursday; the clinic's clock starts on Monday the 5th


@pytest.fixture
async def booking(fresh_database: str, bootstrap_servers: str) -> AsyncIterator[Booking]:
    async with running_booking(
        fresh_database, bootstrap_servers, offer_freed_slots=True
    ) as running:
        await running.seed_clinic()
        yield running


async def open_session(booking: Booking, *, first: date, slack_days: int) -> dict[str, Any]:
    [request] = await booking.requests(await booking.cycle(first=first, slack_days=slack_days))
    return request


async def offer_events(booking: Booking) -> list[dict[str, Any]]:
    """The slot and offer events booking staged so far, oldest first."""
    return [e for e in await booking.events() if ".offer_" in e["type"] or ".slot_" in e["type"]]


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"].split(".")[2] for e in events]


async def test_a_cancelled_session_is_offered_best_first_and_to_the_next_when_it_expires(
    booking: Booking,
) -> None:
    cancelling = await open_session(booking, first=DAY, slack_days=1)
    urgent = await open_session(booking, first=DAY, slack_days=1)  # its window ends first
    relaxed = await open_session(booking, first=DAY + timedelta(days=2), slack_days=3)
    starts_at = datetime.combine(DAY, time(10), PARIS)
    booked = await booking.post("/v1/appointments", {
        "booking_request_id": cancelling["id"], "practitioner_id": booking.practitioner_ids[0],
        "room_id": booking.room_ids[0], "starts_at": starts_at.isoformat(),
    })  # fmt: skip
    assert booked.status_code == 201, booked.text

    cancelled = await booking.post(f"/v1/appointments/{booked.json()['id']}/cancel", {})
    assert cancelled.status_code == 200, cancelled.text
    freed, made = await offer_events(booking)
    assert freed["type"].endswith("slot_freed.v1")
    assert freed["appointment_id"] == booked.json()["id"]
    assert datetime.fromisoformat(freed["starts_at"]) == starts_at
    assert made["type"].endswith("offer_made.v1")
    assert made["booking_request_id"] == urgent["id"]  # not the one that cancelled
    assert "?offer=" in made["link_url"]
    claim_by = booking.clock.now() + timedelta(minutes=30)
    assert datetime.fromisoformat(made["claim_by"]) == claim_by

    booking.clock.set(claim_by - timedelta(seconds=1))
    await Sweeper(booking.runtime).one_pass()
    assert len(await offer_events(booking)) == 2  # still live: nothing expires early

    booking.clock.set(claim_by)
    await Sweeper(booking.runtime).one_pass()
    events = await offer_events(booking)
    assert kinds(events) == ["slot_freed", "offer_made", "offer_expired", "offer_made"]
    [_, _, expired, following] = events
    assert (expired["offer_id"], expired["status"]) == (made["offer_id"], "expired")
    assert following["booking_request_id"] == relaxed["id"]

    booking.clock.advance(timedelta(minutes=30))
    await Sweeper(booking.runtime).one_pass()
    after = kinds(await offer_events(booking))
    assert after[-1] == "offer_expired"  # nobody left who has not had it
    assert after.count("offer_made") == 2


async def test_no_offer_while_the_clinic_has_offers_off(
    fresh_database: str, bootstrap_servers: str
) -> None:
    async with running_booking(fresh_database, bootstrap_servers) as booking:
        await booking.seed_clinic()
        cancelling = await open_session(booking, first=DAY, slack_days=1)
        await open_session(booking, first=DAY, slack_days=1)
        booked = await booking.post("/v1/appointments", {
            "booking_request_id": cancelling["id"],
            "practitioner_id": booking.practitioner_ids[0], "room_id": booking.room_ids[0],
            "starts_at": datetime.combine(DAY, time(10), PARIS).isoformat(),
        })  # fmt: skip
        await booking.post(f"/v1/appointments/{booked.json()['id']}/cancel", {})
        assert await offer_events(booking) == []
