"""The appointment's life over the real API and PostgreSQL: each step an event, each
invalid step a 409 with the reason, versions that grow, Idempotency-Key on creates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.utils.booking import Booking, running_booking

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
async def booking(fresh_database: str, bootstrap_servers: str) -> AsyncIterator[Booking]:
    async with running_booking(fresh_database, bootstrap_servers) as running:
        await running.seed_clinic()
        yield running


def at(day: str | date, hour: int, minute: int = 0) -> str:
    """A wall-clock time in Paris on ``day``, as the API takes it."""
    if isinstance(day, str):
        day = date.fromisoformat(day)
    return datetime.combine(day, time(hour, minute), PARIS).isoformat()


async def book(
    booking: Booking, request: dict[str, Any], hour: int = 10, headers: dict[str, str] | None = None
) -> Any:
    body = {
        "booking_request_id": request["id"],
        "practitioner_id": booking.practitioner_ids[0],
        "room_id": booking.room_ids[0],
        "starts_at": at(request["target_date"], hour),
    }
    return await booking.post("/v1/appointments", body, headers=headers)


async def test_an_appointment_goes_booked_confirmed_checked_in_completed_with_an_event_each(
    booking: Booking,
) -> None:
    [request] = await booking.requests(await booking.cycle())
    response = await book(booking, request)
    assert response.status_code == 201, response.text
    appointment = response.json()
    assert (appointment["status"], appointment["version"]) == ("booked", 1)
    url = f"/v1/appointments/{appointment['id']}"
    assert (await booking.post(f"{url}/confirm")).json()["status"] == "confirmed"
    booking.clock.set(datetime.fromisoformat(appointment["starts_at"]) - timedelta(minutes=10))
    assert (await booking.post(f"{url}/check-in")).json()["status"] == "checked_in"
    booking.clock.advance(timedelta(minutes=40))
    done = (await booking.post(f"{url}/complete")).json()
    assert (done["status"], done["version"]) == ("completed", 4)
    types = [e["type"].split(".")[2] for e in await booking.events()]
    assert types[-4:] == [
        "appointment_booked", "appointment_confirmed", "appointment_checked_in",
        "appointment_completed",
    ]  # fmt: skip
    [after] = await booking.requests(await _same(booking, request))
    assert after["status"] == "completed"


async def _same(booking: Booking, request: dict[str, Any]) -> Any:
    class Plan:
        plan_id = request["plan_id"]

    return Plan


async def test_an_invalid_step_is_a_409_that_says_why(booking: Booking) -> None:
    [request] = await booking.requests(await booking.cycle())
    appointment = (await book(booking, request)).json()
    url = f"/v1/appointments/{appointment['id']}"
    response = await booking.post(f"{url}/complete")
    assert response.status_code == 409
    assert "a booked appointment cannot be completed" in response.json()["detail"]
    response = await booking.post(f"{url}/no-show")
    assert response.status_code == 409
    assert "before the session starts" in response.json()["detail"]
    assert (await booking.post(f"{url}/cancel", {"reason": "flu"})).json()["status"] == "cancelled"
    response = await booking.post(f"{url}/check-in")
    assert response.status_code == 409
    assert "a cancelled appointment cannot be checked in" in response.json()["detail"]
    response = await booking.post(f"{url}/teleport")
    assert response.status_code == 404
    # The session is open again and can be booked once more.
    [again] = await booking.requests(await _same(booking, request))
    assert again["status"] == "open"
    assert (await book(booking, request)).status_code == 201


async def test_a_stale_version_is_refused_and_a_reschedule_bumps_the_version(
    booking: Booking,
) -> None:
    [request] = await booking.requests(await booking.cycle())
    appointment = (await book(booking, request)).json()
    url = f"/v1/appointments/{appointment['id']}"
    moved = await booking.post(
        f"{url}/reschedule", {"starts_at": at(request["target_date"], 14), "expected_version": 1}
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["version"], moved.json()["status"]) == (2, "booked")
    response = await booking.post(f"{url}/confirm", {"expected_version": 1})
    assert response.status_code == 409
    assert "version 2, not 1" in response.json()["detail"]
    [event] = await booking.events("appointment_rescheduled.v1")
    assert event["version"] == 2
    assert event["starts_at"].startswith(f"{request['target_date']}T13:00")


async def test_the_same_idempotency_key_answers_the_same_appointment_and_another_body_is_422(
    booking: Booking,
) -> None:
    [request] = await booking.requests(await booking.cycle())
    headers = {"Idempotency-Key": "book-once"}
    first = await book(booking, request, headers=headers)
    again = await book(booking, request, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = await book(booking, request, hour=15, headers=headers)
    assert other.status_code == 422
    assert "different request body" in other.json()["detail"]


async def test_bookings_respect_windows_hours_and_time_off(booking: Booking) -> None:
    [request] = await booking.requests(await booking.cycle())
    response = await book(booking, request, hour=21)
    assert response.status_code == 422
    assert "does not work at that time" in response.json()["detail"]
    day = request["target_date"]
    off = await booking.post(
        "/v1/time-off",
        {"resource_kind": "practitioner", "resource_id": booking.practitioner_ids[0],
         "starts_at": at(day, 9), "ends_at": at(day, 12), "reason": "training"},
    )  # fmt: skip
    assert off.status_code == 201, off.text
    response = await book(booking, request, hour=10)
    assert response.status_code == 422
    assert "away" in response.json()["detail"]
    hours = [{"weekday": d, "opens": "13:00", "closes": "18:00"} for d in range(7)]
    response = await booking.client.put(f"/v1/rooms/{booking.room_ids[0]}/weekly-hours", json=hours)
    assert response.status_code == 200, response.text
    assert (await book(booking, request, hour=12)).status_code == 422
    assert (await book(booking, request, hour=13)).status_code == 201
