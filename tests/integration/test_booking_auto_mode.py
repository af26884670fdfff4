"""Auto mode keeps a course moving: once a session is booked or done, the next open one is
held (same practitioner, same time of day where possible) for the patient to confirm."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.integration.test_booking_lifecycle import at
from tests.utils.booking import Booking, running_booking, token_of

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
async def booking(fresh_database: str, bootstrap_servers: str) -> AsyncIterator[Booking]:
    async with running_booking(fresh_database, bootstrap_servers, booking_mode="auto") as running:
        await running.seed_clinic()
        yield running


async def held_of(booking: Booking, request: dict[str, Any]) -> dict[str, Any]:
    response = await booking.client.get(
        "/v1/appointments", params={"patient_id": request["patient_id"], "status": "held"}
    )
    [held] = [a for a in response.json() if a["booking_request_id"] == request["id"]]
    return dict(held)


def local_time(appointment: dict[str, Any]) -> str:
    return f"{datetime.fromisoformat(appointment['starts_at']).astimezone(PARIS):%H:%M}"


async def test_booking_a_session_holds_the_next_one_with_the_same_practitioner_and_time(
    booking: Booking,
) -> None:
    cycle = await booking.cycle(sessions=3)
    first, second, third = await booking.requests(cycle)
    assert [first["status"], second["status"], third["status"]] == ["held", "open", "open"]
    hold = await held_of(booking, first)
    # The patient prefers Dr 1 at 15:00: staff move the hold there, then it is booked.
    moved = await booking.post(
        f"/v1/appointments/{hold['id']}/reschedule",
        {"starts_at": at(first["target_date"], 15), "practitioner_id": booking.practitioner_ids[1],
         "room_id": booking.room_ids[1]},
    )  # fmt: skip
    assert moved.status_code == 200, moved.text
    assert (await booking.post(f"/v1/appointments/{hold['id']}/book")).status_code == 200
    statuses = [r["status"] for r in await booking.requests(cycle)]
    assert statuses == ["booked", "held", "open"]
    next_hold = await held_of(booking, second)
    assert next_hold["practitioner_id"] == booking.practitioner_ids[1]
    assert local_time(next_hold) == "15:00"
    assert next_hold["hold_expires_at"] is not None
    # The patient is texted a link to confirm that held session.
    invitation = (await booking.events("booking_invitation_issued.v1"))[-1]
    assert invitation["appointment_id"] == next_hold["id"]
    link = {"X-Patient-Token": token_of(invitation["link_url"])}
    url = f"/v1/self-booking/appointments/{next_hold['id']}/confirm"
    assert (await booking.post(url, headers=link)).json()["status"] == "booked"
    # ...which holds session 3 in turn; the last session leaves nothing more to hold.
    third_hold = await held_of(booking, third)
    assert (third_hold["practitioner_id"], local_time(third_hold)) == (
        booking.practitioner_ids[1],
        "15:00",
    )
    holds = len(await booking.events("appointment_held.v1"))
    assert (await booking.post(f"/v1/appointments/{third_hold['id']}/book")).status_code == 200
    assert len(await booking.events("appointment_held.v1")) == holds


async def test_a_staff_booking_holds_the_next_session_and_only_one_is_held_at_a_time(
    booking: Booking,
) -> None:
    cycle = await booking.cycle(sessions=3)
    first, second, _ = await booking.requests(cycle)
    hold = await held_of(booking, first)
    # Staff drop the auto hold and book session 1 themselves at 09:00.
    assert (await booking.post(f"/v1/appointments/{hold['id']}/cancel")).status_code == 200
    booked = await booking.post(
        "/v1/appointments",
        {"booking_request_id": first["id"], "practitioner_id": booking.practitioner_ids[0],
         "room_id": booking.room_ids[0], "starts_at": at(first["target_date"], 9)},
    )  # fmt: skip
    assert booked.status_code == 201, booked.text
    next_hold = await held_of(booking, second)
    assert (next_hold["practitioner_id"], local_time(next_hold)) == (
        booking.practitioner_ids[0],
        "09:00",
    )
    # Session 1 done: session 2 is already held, so nothing more is held.
    holds = len(await booking.events("appointment_held.v1"))
    url = f"/v1/appointments/{booked.json()['id']}"
    booking.clock.set(datetime.fromisoformat(booked.json()["starts_at"]))
    assert (await booking.post(f"{url}/check-in")).status_code == 200
    booking.clock.advance(timedelta(minutes=40))
    assert (await booking.post(f"{url}/complete")).status_code == 200
    assert len(await booking.events("appointment_held.v1")) == holds
