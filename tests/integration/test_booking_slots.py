"""Slot search puts the patient's preferred practitioner first, or offers them alone."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.utils.booking import Booking, running_booking


@pytest.fixture
async def booking(fresh_database: str, bootstrap_servers: str) -> AsyncIterator[Booking]:
    async with running_booking(fresh_database, bootstrap_servers) as running:
        await running.seed_clinic()
        yield running


async def test_the_preferred_practitioners_slots_come_first_even_when_later(
    booking: Booking,
) -> None:
    other, preferred = booking.practitioner_ids
    [request] = await booking.requests(await booking.cycle(preferred_practitioner_id=preferred))
    url = f"/v1/booking-requests/{request['id']}/slots"
    only = (await booking.client.get(url, params={"preferred_only": "true"})).json()
    assert only
    assert {s["practitioner_id"] for s in only} == {preferred}
    # The preferred practitioner's earliest time goes to another patient...
    earliest = only[0]["starts_at"]
    [someone_else] = await booking.requests(await booking.cycle())
    taken = await booking.post(
        "/v1/appointments",
        {"booking_request_id": someone_else["id"], "practitioner_id": preferred,
         "room_id": booking.room_ids[1], "starts_at": earliest},
    )  # fmt: skip
    assert taken.status_code == 201, taken.text
    # ...so the earliest start is the other practitioner's, yet the preferred one leads.
    slots = (await booking.client.get(url, params={"limit": 500})).json()
    who = [s["practitioner_id"] for s in slots]
    assert who[0] == preferred
    assert slots[0]["starts_at"] > earliest
    assert other in who
    assert who == sorted(who, key=lambda p: p != preferred)  # never back to the preferred
    first_of_other = next(s for s in slots if s["practitioner_id"] == other)
    assert first_of_other["starts_at"] == earliest


async def test_preferred_only_without_a_preference_is_a_422(booking: Booking) -> None:
    [request] = await booking.requests(await booking.cycle())
    url = f"/v1/booking-requests/{request['id']}/slots"
    response = await booking.client.get(url, params={"preferred_only": "true"})
    assert response.status_code == 422
    assert "no preferred practitioner" in response.json()["detail"]
    everyone = (await booking.client.get(url)).json()
    assert {s["practitioner_id"] for s in everyone} == set(booking.practitioner_ids)


async def test_a_patient_can_ask_for_their_practitioner_only(booking: Booking) -> None:
    preferred = booking.practitioner_ids[0]
    # A one-day window: both practitioners' slots fit in the page the patient gets.
    cycle = await booking.cycle(preferred_practitioner_id=preferred, slack_days=0)
    [request] = await booking.requests(cycle)
    headers = await booking.patient_link(request["id"])
    url = f"/v1/self-booking/requests/{request['id']}/slots"
    slots = (await booking.client.get(url, headers=headers)).json()
    assert slots[0]["practitioner_id"] == preferred
    assert len({s["practitioner_id"] for s in slots}) == 2
    only = await booking.client.get(url, headers=headers, params={"preferred_only": "true"})
    assert {s["practitioner_id"] for s in only.json()} == {preferred}


async def test_the_day_picker_counts_every_free_time_and_lists_a_whole_day(
    booking: Booking,
) -> None:
    """A long window has more free times than one answer lists: every day is counted, and
    each day's times come whole when asked for that day."""
    [request] = await booking.requests(await booking.cycle(slack_days=3))
    link = await booking.patient_link(request["id"])
    url = f"/v1/self-booking/requests/{request['id']}"
    first = await booking.client.get(f"{url}/slots", headers=link)
    assert len(first.json()) == 200  # cut: the window holds more
    days = await booking.client.get(f"{url}/days", headers=link)
    assert days.status_code == 200, days.text
    counted = {d["day"]: d["free"] for d in days.json()}
    assert sum(counted.values()) > 200
    for day, free in counted.items():
        listed = await booking.client.get(f"{url}/slots", params={"day": day}, headers=link)
        assert listed.status_code == 200, listed.text
        assert len(listed.json()) == free
        assert {s["patient_starts_at"][:10] for s in listed.json()} == {day}
    bad = await booking.client.get(f"{url}/slots", params={"day": "31/12/2026"}, headers=link)
    assert bad.status_code == 422
