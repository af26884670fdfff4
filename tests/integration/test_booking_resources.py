"""Reading the clinic's resources back, and the sweeper forgetting old Idempotency-Keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from booking.adapters.db import idempotency_keys
from booking.workers.sweeper import Sweeper
from tests.integration.test_booking_lifecycle import at
from tests.utils.booking import Booking, running_booking


@pytest.fixture
async def booking(fresh_database: str, bootstrap_servers: str) -> AsyncIterator[Booking]:
    async with running_booking(fresh_database, bootstrap_servers) as running:
        await running.seed_clinic()
        yield running


async def test_locations_are_listed(booking: Booking) -> None:
    created = await booking.post("/v1/locations", {"name": "Lyon", "time_zone": "Europe/Paris"})
    response = await booking.client.get("/v1/locations")
    assert response.status_code == 200
    assert {(loc["id"], loc["name"]) for loc in response.json()} == {
        (booking.location_id, "Paris"),
        (created.json()["id"], "Lyon"),
    }


async def test_a_practitioners_and_a_rooms_time_off_are_listed(booking: Booking) -> None:
    practitioner, room = booking.practitioner_ids[0], booking.room_ids[0]
    now = booking.clock.now()
    day = timedelta(days=1)
    spans = [(now - 3 * day, now - 2 * day), (now + day, now + 2 * day)]
    for starts, ends in spans:
        body = {
            "resource_kind": "practitioner",
            "resource_id": practitioner,
            "starts_at": starts.isoformat(),
            "ends_at": ends.isoformat(),
            "reason": "leave",
        }
        assert (await booking.post("/v1/time-off", body)).status_code == 201
    body = {"resource_kind": "room", "resource_id": room, "starts_at": spans[1][0].isoformat(),
            "ends_at": spans[1][1].isoformat(), "reason": "repairs"}  # fmt: skip
    assert (await booking.post("/v1/time-off", body)).status_code == 201

    listed = (await booking.client.get(f"/v1/practitioners/{practitioner}/time-off")).json()
    assert [t["reason"] for t in listed] == ["leave", "leave"]
    assert listed[0]["starts_at"] < listed[1]["starts_at"]
    upcoming = await booking.client.get(
        f"/v1/practitioners/{practitioner}/time-off", params={"ends_after": now.isoformat()}
    )
    assert len(upcoming.json()) == 1
    rooms = (await booking.client.get(f"/v1/rooms/{room}/time-off")).json()
    assert [(t["resource_id"], t["reason"]) for t in rooms] == [(room, "repairs")]
    other_room = (await booking.client.get(f"/v1/rooms/{booking.room_ids[1]}/time-off")).json()
    assert other_room == []
    missing = await booking.client.get(f"/v1/rooms/{practitioner}/time-off")
    assert missing.status_code == 404


async def test_the_sweeper_forgets_idempotency_keys_after_a_day(booking: Booking) -> None:
    requests = [(await booking.requests(await booking.cycle()))[0] for _ in range(2)]
    for key, request, hour in (("old", requests[0], 9), ("recent", requests[1], 11)):
        body = {
            "booking_request_id": request["id"],
            "practitioner_id": booking.practitioner_ids[0],
            "room_id": booking.room_ids[0],
            "starts_at": at(request["target_date"], hour),
        }
        response = await booking.post("/v1/appointments", body, headers={"Idempotency-Key": key})
        assert response.status_code == 201, response.text
    now = booking.clock.now()
    async with booking.runtime.sessions.begin() as session:
        for key, age in (("old", timedelta(hours=25)), ("recent", timedelta(hours=23))):
            await session.execute(
                sa.update(idempotency_keys)
                .where(idempotency_keys.c.key == key)
                .values(created_at=now - age)
            )
    await Sweeper(booking.runtime).one_pass()
    async with booking.runtime.sessions() as session:
        kept = set(await session.scalars(sa.select(idempotency_keys.c.key)))
    assert kept == {"recent"}
