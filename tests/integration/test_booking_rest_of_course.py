"""The rest of a course in one step from the patient's link: proposed at the booked
session's weekday and time (the nearest free time where that is taken), then booked all
at once, or not at all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.utils.booking import Booking, running_booking

PARIS = ZoneInfo("Europe/Paris")
FIRST = date(2026, 1, 13)  # a Tuesday; the clinic's clock starts on Monday the 5th


@pytest.fixture
async def booking(fresh_database: str, bootstrap_servers: str) -> AsyncIterator[Booking]:
    async with running_booking(fresh_database, bootstrap_servers) as running:
        await running.seed_clinic()
        yield running


def paris(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), PARIS)


async def first_booked(
    booking: Booking, sessions: int = 4
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, str]]:
    """A weekly course whose first session the patient booked through their link on
    Tuesday at 10:00 with the first practitioner: its requests, that appointment, the link."""
    requests = await booking.requests(
        await booking.cycle(sessions=sessions, first=FIRST, slack_days=2, min_gap_days=5)
    )
    link = await booking.patient_link(requests[0]["id"])
    held = await booking.post(
        "/v1/self-booking/holds",
        {"booking_request_id": requests[0]["id"], "practitioner_id": booking.practitioner_ids[0],
         "room_id": booking.room_ids[0], "starts_at": paris(FIRST, 10).isoformat()},
        headers=link,
    )  # fmt: skip
    assert held.status_code == 201, held.text
    confirm = f"/v1/self-booking/appointments/{held.json()['id']}/confirm"
    booked = await booking.post(confirm, headers=link)
    assert booked.status_code == 200, booked.text
    return requests, booked.json(), link


async def someone_else_takes(booking: Booking, starts_at: datetime) -> None:
    """Another patient is booked with the first practitioner at ``starts_at``."""
    [other] = await booking.requests(
        await booking.cycle(first=starts_at.astimezone(PARIS).date(), slack_days=1)
    )
    taken = await booking.post("/v1/appointments", {
        "booking_request_id": other["id"], "practitioner_id": booking.practitioner_ids[0],
        "room_id": booking.room_ids[1], "starts_at": starts_at.isoformat(),
    })  # fmt: skip
    assert taken.status_code == 201, taken.text


async def proposal(booking: Booking, appointment: dict[str, Any], link: dict[str, str]) -> Any:
    url = f"/v1/self-booking/appointments/{appointment['id']}/rest-of-course"
    response = await booking.client.get(url, headers=link)
    assert response.status_code == 200, response.text
    return response.json()


def as_sessions(proposed: Any) -> dict[str, Any]:
    return {
        "sessions": [
            {"booking_request_id": s["booking_request_id"], "starts_at": s["slot"]["starts_at"],
             "practitioner_id": s["slot"]["practitioner_id"], "room_id": s["slot"]["room_id"]}
            for s in proposed["sessions"]
        ]
    }  # fmt: skip


async def test_the_rest_is_proposed_at_the_same_time_with_the_exceptions_then_booked_whole(
    booking: Booking,
) -> None:
    requests, appointment, link = await first_booked(booking)
    await someone_else_takes(booking, paris(FIRST + timedelta(weeks=2), 10))

    proposed = await proposal(booking, appointment, link)
    assert proposed["complete"] is True
    lines = [
        (s["session_number"], datetime.fromisoformat(s["slot"]["starts_at"]), s["as_wanted"])
        for s in proposed["sessions"]
    ]
    assert lines[0] == (2, paris(FIRST + timedelta(weeks=1), 10), True)
    # Week 3's Tuesday 10:00 is taken: the nearest free time with the same practitioner.
    number, nearest, as_wanted = lines[1]
    assert (number, as_wanted) == (3, False)
    assert abs(nearest - paris(FIRST + timedelta(weeks=2), 10)) == timedelta(minutes=45)
    assert lines[2] == (4, paris(FIRST + timedelta(weeks=3), 10), True)
    assert {s["slot"]["practitioner_id"] for s in proposed["sessions"]} == {
        booking.practitioner_ids[0]
    }
    assert proposed["sessions"][1]["wanted_starts_at"] is not None

    booked = await booking.post(
        f"/v1/self-booking/plans/{proposed['plan_id']}/course", as_sessions(proposed),
        headers=link,
    )  # fmt: skip
    assert booked.status_code == 201, booked.text
    assert [a["status"] for a in booked.json()] == ["booked"] * 3
    after = await booking.requests(proposed["plan_id"])
    assert [r["status"] for r in after] == ["booked"] * 4
    assert len(requests) == 4


async def test_one_session_taken_before_confirming_books_none_of_them(booking: Booking) -> None:
    _, appointment, link = await first_booked(booking)
    proposed = await proposal(booking, appointment, link)
    third = datetime.fromisoformat(proposed["sessions"][1]["slot"]["starts_at"])
    await someone_else_takes(booking, third)

    refused = await booking.post(
        f"/v1/self-booking/plans/{proposed['plan_id']}/course", as_sessions(proposed),
        headers=link,
    )  # fmt: skip
    assert refused.status_code == 409, refused.text
    assert refused.json()["session_number"] == 3
    assert "nothing was booked" in refused.json()["detail"]
    statuses = [r["status"] for r in await booking.requests(proposed["plan_id"])]
    assert statuses == ["booked", "open", "open", "open"]
    # Asked again, the proposal works around it.
    again = await proposal(booking, appointment, link)
    assert datetime.fromisoformat(again["sessions"][1]["slot"]["starts_at"]) != third


async def test_the_course_is_booked_whole_and_only_the_patients_own(booking: Booking) -> None:
    _, appointment, link = await first_booked(booking)
    proposed = await proposal(booking, appointment, link)
    url = f"/v1/self-booking/plans/{proposed['plan_id']}/course"
    partial = {"sessions": as_sessions(proposed)["sessions"][:2]}
    missing = await booking.post(url, partial, headers=link)
    assert missing.status_code == 422, missing.text
    assert "session(s) [4] are missing" in missing.json()["detail"]

    other_requests = await booking.requests(await booking.cycle(sessions=2, first=FIRST))
    other_link = await booking.patient_link(other_requests[0]["id"])
    theirs = await booking.post(url, as_sessions(proposed), headers=other_link)
    assert theirs.status_code == 404, theirs.text
    not_mine = await booking.client.get(
        f"/v1/self-booking/appointments/{appointment['id']}/rest-of-course", headers=other_link
    )
    assert not_mine.status_code == 404
