"""The staff's tools: a whole course in one transaction, the day's schedule, the
iCalendar feed, practitioners kept to their own schedule, holds that run out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest

from booking.use_cases.reactions import unit_of_work
from booking.use_cases.steps import expire_holds
from shared.auth import Role
from tests.integration.test_booking_lifecycle import at
from tests.utils.booking import Booking, running_booking


@pytest.fixture
async def booking(fresh_database: str, bootstrap_servers: str) -> AsyncIterator[Booking]:
    async with running_booking(fresh_database, bootstrap_servers) as running:
        await running.seed_clinic()
        yield running


async def test_a_course_is_booked_whole_or_not_at_all(booking: Booking) -> None:
    cycle = await booking.cycle(sessions=3)
    requests = await booking.requests(cycle)
    sessions = [
        {"booking_request_id": r["id"], "practitioner_id": booking.practitioner_ids[0],
         "room_id": booking.room_ids[0], "starts_at": at(r["target_date"], 10)}
        for r in requests
    ]  # fmt: skip
    url = f"/v1/plans/{cycle.plan_id}/course"
    # Session 3 clashes with another patient's booking: nothing of the course is booked.
    [other] = await booking.requests(
        await booking.cycle(first=date.fromisoformat(requests[2]["target_date"]))
    )
    taken = await booking.post(
        "/v1/appointments", {**sessions[2], "booking_request_id": other["id"]}
    )
    assert taken.status_code == 201, taken.text
    response = await booking.post(url, {"sessions": sessions})
    assert response.status_code == 409
    assert response.json()["session_number"] == 3
    assert "nothing was booked" in response.json()["detail"]
    assert {r["status"] for r in await booking.requests(cycle)} == {"open"}
    response = await booking.post(url, {"sessions": sessions[:2]})
    assert response.status_code == 422
    assert "missing" in response.json()["detail"]
    sessions[2]["starts_at"] = at(requests[2]["target_date"], 15)
    response = await booking.post(url, {"sessions": sessions}, headers={"Idempotency-Key": "c1"})
    assert response.status_code == 201, response.text
    assert [a["status"] for a in response.json()] == ["booked"] * 3


async def test_the_schedule_and_the_feed_show_a_practitioner_their_own_day(
    booking: Booking,
) -> None:
    [request] = await booking.requests(await booking.cycle())
    mine, theirs = booking.practitioner_ids
    body = {"booking_request_id": request["id"], "practitioner_id": mine,
            "room_id": booking.room_ids[0], "starts_at": at(request["target_date"], 9)}  # fmt: skip
    assert (await booking.post("/v1/appointments", body)).status_code == 201
    day = request["target_date"]
    response = await booking.client.get(
        "/v1/schedule", params={"day": day, "location_id": booking.location_id}
    )
    assert response.status_code == 200, response.text
    [line] = response.json()
    assert (line["session_number"], line["numbing_cream_advised"]) == (1, True)
    as_practitioner = {"Authorization": f"Bearer {booking.token(Role.PRACTITIONER, mine)}"}
    week = await booking.client.get(
        "/v1/schedule", params={"day": day, "view": "week"}, headers=as_practitioner
    )
    assert len(week.json()) == 1
    response = await booking.client.get(
        "/v1/schedule", params={"day": day, "practitioner_id": theirs}, headers=as_practitioner
    )
    assert response.status_code == 403
    feed = await booking.client.get(
        f"/v1/practitioners/{mine}/calendar.ics", headers=as_practitioner
    )
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("text/calendar")
    assert feed.text.count("BEGIN:VEVENT") == 1
    closing = await booking.client.get("/v1/booking-requests", params={"closing_within_days": 30})
    assert closing.status_code == 200


async def test_a_hold_that_runs_out_stops_blocking(booking: Booking) -> None:
    [first] = await booking.requests(await booking.cycle())
    [second] = await booking.requests(
        await booking.cycle(first=date.fromisoformat(first["target_date"]))
    )
    slot = {"practitioner_id": booking.practitioner_ids[0], "room_id": booking.room_ids[0],
            "starts_at": at(first["target_date"], 11)}  # fmt: skip
    held = await booking.post(
        "/v1/appointments", {"booking_request_id": first["id"], "hold": True, **slot}
    )
    assert held.json()["status"] == "held"
    taken = await booking.post("/v1/appointments", {"booking_request_id": second["id"], **slot})
    assert taken.status_code == 409
    booking.clock.advance(timedelta(minutes=16))
    late = await booking.post(f"/v1/appointments/{held.json()['id']}/book")
    assert late.status_code == 409
    assert "hold expired" in late.json()["detail"]
    # The reserve path expires the run-out hold it collides with, and announces the
    # hold's end before the booking that took its time (the insert tried again does not
    # write its own event: the reactions stage it after the hold's).
    booked = await booking.post("/v1/appointments", {"booking_request_id": second["id"], **slot})
    assert booked.status_code == 201
    ends = [
        (e["type"].rsplit(".", 2)[-2], e["appointment_id"], e.get("reason"))
        for e in await booking.events()
        if e["type"].endswith(("_cancelled.v1", "_booked.v1"))
    ]
    assert ends == [
        ("appointment_cancelled", held.json()["id"], "hold expired"),
        ("appointment_booked", booked.json()["id"], None),
    ]
    statuses = {r["id"]: r["status"] for r in await booking.requests(first["plan_id"])}
    statuses |= {r["id"]: r["status"] for r in await booking.requests(second["plan_id"])}
    assert (statuses[first["id"]], statuses[second["id"]]) == ("open", "booked")
    async with booking.runtime.sessions.begin() as session:
        assert await expire_holds(unit_of_work(session, booking.settings, booking.clock.now())) == 0
