"""Zero double booking under load, proven against the real PostgreSQL.

The exclusion constraints decide: many clients racing for one slot get one success and
409s; a random storm of book, cancel and reschedule leaves no two active appointments
overlapping on a practitioner or a room; one Idempotency-Key sent 50 times at once makes
one appointment.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from booking.adapters.db import Appointment
from tests.integration.test_booking_lifecycle import at
from tests.utils.booking import Booking, running_booking

#: Overlaps the SQL check looks for, per resource column, buffers included.
OVERLAPS = """
SELECT count(*) FROM appointment a JOIN appointment b
  ON a.{column} = b.{column} AND a.id < b.id
 AND tstzrange(a.blocked_from, a.blocked_until, '[)')
  && tstzrange(b.blocked_from, b.blocked_until, '[)')
WHERE a.status IN ('held', 'booked', 'confirmed', 'checked_in')
  AND b.status IN ('held', 'booked', 'confirmed', 'checked_in')
"""


@pytest.fixture
async def booking(fresh_database: str, bootstrap_servers: str) -> AsyncIterator[Booking]:
    async with running_booking(fresh_database, bootstrap_servers, db_pool_size=40) as running:
        await running.seed_clinic(practitioners=3, rooms=2)
        yield running


async def one_request_each(booking: Booking, patients: int) -> list[dict[str, Any]]:
    found = []
    for _ in range(patients):
        [request] = await booking.requests(await booking.cycle(slack_days=3))
        found.append(request)
    return found


async def test_200_clients_racing_for_one_slot_get_one_booking_and_199_conflicts(
    booking: Booking,
) -> None:
    requests = await one_request_each(booking, 200)
    day = requests[0]["target_date"]

    async def race(request: dict[str, Any]) -> int:
        response = await booking.post(
            "/v1/appointments",
            {"booking_request_id": request["id"], "practitioner_id": booking.practitioner_ids[0],
             "room_id": booking.room_ids[0], "starts_at": at(day, 10)},
        )  # fmt: skip
        return response.status_code

    statuses = Counter(await asyncio.gather(*(race(r) for r in requests)))
    assert statuses == {201: 1, 409: 199}
    async with booking.runtime.sessions() as session:
        active = await session.scalar(
            sa.select(sa.func.count()).where(Appointment.status == "booked")
        )
    assert active == 1


async def test_a_random_storm_of_book_cancel_reschedule_leaves_no_overlap(
    booking: Booking,
) -> None:
    rng = random.Random(20260105)
    requests = await one_request_each(booking, 60)
    day = requests[0]["target_date"]
    booked: dict[str, str] = {}  # request id -> appointment id
    outcomes: Counter[int] = Counter()

    def somewhere() -> dict[str, str]:
        return {
            "practitioner_id": rng.choice(booking.practitioner_ids),
            "room_id": rng.choice(booking.room_ids),
            "starts_at": at(day, rng.randint(9, 17), rng.choice((0, 15, 30, 45))),
        }

    async def act(request: dict[str, Any]) -> None:
        appointment = booked.get(request["id"])
        roll = rng.random()
        if appointment is None:
            response = await booking.post(
                "/v1/appointments", {"booking_request_id": request["id"], **somewhere()}
            )
            if response.status_code == 201:
                booked[request["id"]] = response.json()["id"]
        elif roll < 0.3:
            response = await booking.post(f"/v1/appointments/{appointment}/cancel")
            if response.status_code == 200:
                del booked[request["id"]]
        else:
            response = await booking.post(f"/v1/appointments/{appointment}/reschedule", somewhere())
        outcomes[response.status_code] += 1

    for _ in range(8):
        await asyncio.gather(*(act(r) for r in requests))
    assert set(outcomes) <= {200, 201, 409}, outcomes
    assert outcomes[409] > 0
    assert (outcomes[200] + outcomes[201]) > 0
    async with booking.runtime.sessions() as session:
        for column in ("practitioner_id", "room_id"):
            overlaps = await session.scalar(sa.text(OVERLAPS.format(column=column)))
            assert overlaps == 0, f"{overlaps} overlaps on {column}"
        active = await session.scalar(
            sa.select(sa.func.count()).where(Appointment.status == "booked")
        )
    assert active == len(booked)


async def test_50_concurrent_requests_with_one_idempotency_key_make_one_appointment(
    booking: Booking,
) -> None:
    [request] = await one_request_each(booking, 1)
    body = {
        "booking_request_id": request["id"],
        "practitioner_id": booking.practitioner_ids[1],
        "room_id": booking.room_ids[1],
        "starts_at": at(request["target_date"], 11),
    }

    async def send() -> tuple[int, str]:
        response = await booking.post(
            "/v1/appointments", body, headers={"Idempotency-Key": "one-key"}
        )
        return response.status_code, response.json()["id"]

    answers = await asyncio.gather(*(send() for _ in range(50)))
    assert {status for status, _ in answers} == {201}
    assert len({appointment_id for _, appointment_id in answers}) == 1
    async with booking.runtime.sessions() as session:
        count = await session.scalar(sa.select(sa.func.count()).select_from(Appointment))
    assert count == 1
