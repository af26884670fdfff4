"""One spacing rule, in every path (issue #12).

On a protocol of every 7 days +- 2 (minimum gap 5 days), session 1 on the last day of its
window and session 2 on the first day of its own are 3 days apart: staff booking, staff
and patient holds, auto-mode holds, moves and whole-course booking all refuse the pair,
in either order, with a 409 problem naming the neighbouring session and the allowed
date; slot search does not offer those days. The gap comes from the protocol (plans sends
it with the windows); a course opened from an older event derives it as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.contracts.plans import CycleScheduled, SessionWindow, WindowsChanged
from tests.integration.test_booking_lifecycle import PARIS, at
from tests.utils.booking import Booking, running_booking

#: The harness's cycle starts two days after its clock (Monday 2026-01-05): session 1's
#: window is 01-05..01-09 (target 01-07), session 2's is 01-12..01-16 (target 01-14).
LAST_OF_1, FIRST_OF_2 = date(2026, 1, 9), date(2026, 1, 12)


@pytest.fixture
async def booking(fresh_database: str, bootstrap_servers: str) -> AsyncIterator[Booking]:
    async with running_booking(fresh_database, bootstrap_servers) as running:
        await running.seed_clinic()
        yield running


def body(booking: Booking, request: dict[str, Any], day: date, **extra: Any) -> dict[str, Any]:
    return {
        "booking_request_id": request["id"], "practitioner_id": booking.practitioner_ids[0],
        "room_id": booking.room_ids[0], "starts_at": at(day, 10), **extra,
    }  # fmt: skip


def assert_too_close(
    response: httpx.Response, *, session: int, neighbour: int, allowed: str
) -> None:
    """A 409 problem naming the neighbour and the earliest / latest allowed date."""
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["neighbour_session_number"] == neighbour
    assert f"session {session} on " in problem["detail"]
    assert f"too close to session {neighbour} on " in problem["detail"]
    assert allowed in problem["detail"]


#: Which session is placed first, and what the second is then told.
ORDERS = {
    "1-then-2": ((0, LAST_OF_1), (1, FIRST_OF_2), "the earliest allowed date is 2026-01-14"),
    "2-then-1": ((1, FIRST_OF_2), (0, LAST_OF_1), "the latest allowed date is 2026-01-07"),
}


@pytest.mark.parametrize("min_gap_days", [5, None], ids=["sent", "derived"])
@pytest.mark.parametrize("order", list(ORDERS))
async def test_staff_booking_refuses_the_pair_in_either_order(
    booking: Booking, order: str, min_gap_days: int | None
) -> None:
    requests = await booking.requests(await booking.cycle(sessions=2, min_gap_days=min_gap_days))
    assert [r["min_gap_days"] for r in requests] == [min_gap_days] * 2
    (first, first_day), (second, second_day), allowed = ORDERS[order]
    placed = await booking.post("/v1/appointments", body(booking, requests[first], first_day))
    assert placed.status_code == 201, placed.text
    refused = await booking.post("/v1/appointments", body(booking, requests[second], second_day))
    assert_too_close(refused, session=second + 1, neighbour=first + 1, allowed=allowed)
    assert refused.json()["min_gap_days"] == 5
    # On the allowed date it is booked.
    day = date.fromisoformat(allowed.rsplit(" ", 1)[1])
    fine = await booking.post("/v1/appointments", body(booking, requests[second], day))
    assert fine.status_code == 201, fine.text


@pytest.mark.parametrize("order", list(ORDERS))
@pytest.mark.parametrize("who", ["staff", "patient"])
async def test_holds_refuse_the_pair_in_either_order(
    booking: Booking, order: str, who: str
) -> None:
    requests = await booking.requests(await booking.cycle(sessions=2, min_gap_days=5))
    (first, first_day), (second, second_day), allowed = ORDERS[order]

    async def hold(request: dict[str, Any], day: date) -> httpx.Response:
        if who == "staff":
            return await booking.post("/v1/appointments", body(booking, request, day, hold=True))
        link = await booking.patient_link(request["id"])
        return await booking.post(
            "/v1/self-booking/holds", body(booking, request, day), headers=link
        )

    held = await hold(requests[first], first_day)
    assert held.status_code == 201, held.text
    assert held.json()["status"] == "held"
    refused = await hold(requests[second], second_day)
    assert_too_close(refused, session=second + 1, neighbour=first + 1, allowed=allowed)


@pytest.mark.parametrize("who", ["staff", "patient"])
async def test_a_move_too_close_to_the_previous_or_the_next_session_is_refused(
    booking: Booking, who: str
) -> None:
    requests = await booking.requests(await booking.cycle(sessions=2, min_gap_days=5))
    # Session 1 on 01-07 and session 2 on 01-12: five days apart, both fine.
    one = await booking.post("/v1/appointments", body(booking, requests[0], date(2026, 1, 7)))
    two = await booking.post("/v1/appointments", body(booking, requests[1], FIRST_OF_2))
    assert (one.status_code, two.status_code) == (201, 201), two.text
    headers = await booking.patient_link(requests[0]["id"]) if who == "patient" else None
    prefix = "/v1/self-booking/appointments" if who == "patient" else "/v1/appointments"

    async def move(appointment: httpx.Response, day: date) -> httpx.Response:
        url = f"{prefix}/{appointment.json()['id']}/reschedule"
        return await booking.post(url, {"starts_at": at(day, 11)}, headers=headers)

    # Session 1 later, to the last day of its window: too close to session 2.
    refused = await move(one, LAST_OF_1)
    assert_too_close(
        refused, session=1, neighbour=2, allowed="the latest allowed date is 2026-01-07"
    )
    # Earlier is fine; back within 5 days of session 2 is not.
    assert (await move(one, date(2026, 1, 6))).status_code == 200
    moved_back = await move(one, date(2026, 1, 8))
    assert_too_close(
        moved_back, session=1, neighbour=2, allowed="the latest allowed date is 2026-01-07"
    )
    # Nothing moved: both appointments are where they were.
    listed = await booking.client.get(
        "/v1/appointments", params={"patient_id": requests[0]["patient_id"]}
    )
    days = sorted(datetime.fromisoformat(a["starts_at"]).astimezone(PARIS).date()
                  for a in listed.json() if a["status"] == "booked")  # fmt: skip
    assert days == [date(2026, 1, 6), FIRST_OF_2]


async def test_a_move_of_the_later_session_too_close_to_the_earlier_names_it(
    booking: Booking,
) -> None:
    requests = await booking.requests(await booking.cycle(sessions=2, min_gap_days=5))
    one = await booking.post("/v1/appointments", body(booking, requests[0], LAST_OF_1))
    two = await booking.post("/v1/appointments", body(booking, requests[1], date(2026, 1, 14)))
    assert (one.status_code, two.status_code) == (201, 201), two.text
    refused = await booking.post(
        f"/v1/appointments/{two.json()['id']}/reschedule", {"starts_at": at(FIRST_OF_2, 10)}
    )
    assert_too_close(
        refused, session=2, neighbour=1, allowed="the earliest allowed date is 2026-01-14"
    )


@pytest.mark.parametrize("order", list(ORDERS))
async def test_course_booking_refuses_the_pair_given_together_in_either_order(
    booking: Booking, order: str
) -> None:
    cycle = await booking.cycle(sessions=2, min_gap_days=5)
    requests = await booking.requests(cycle)
    (first, first_day), (second, second_day), _ = ORDERS[order]
    sessions = [
        body(booking, requests[first], first_day),
        body(booking, requests[second], second_day),
    ]
    response = await booking.post(f"/v1/plans/{cycle.plan_id}/course", {"sessions": sessions})
    assert_too_close(
        response, session=2, neighbour=1, allowed="the earliest allowed date is 2026-01-14"
    )
    assert [r["status"] for r in await booking.requests(cycle)] == ["open", "open"]


@pytest.mark.parametrize("order", list(ORDERS))
async def test_course_booking_refuses_a_session_too_close_to_one_already_booked(
    booking: Booking, order: str
) -> None:
    cycle = await booking.cycle(sessions=2, min_gap_days=5)
    requests = await booking.requests(cycle)
    (first, first_day), (second, second_day), allowed = ORDERS[order]
    placed = await booking.post("/v1/appointments", body(booking, requests[first], first_day))
    assert placed.status_code == 201, placed.text
    response = await booking.post(
        f"/v1/plans/{cycle.plan_id}/course",
        {"sessions": [body(booking, requests[second], second_day)]},
    )
    assert_too_close(response, session=second + 1, neighbour=first + 1, allowed=allowed)


async def local_days(booking: Booking, url: str, **kw: Any) -> set[date]:
    response = await booking.client.get(url, params={"limit": 500}, **kw)
    assert response.status_code == 200, response.text
    return {datetime.fromisoformat(s["local_starts_at"]).date() for s in response.json()}


async def test_slot_search_offers_only_days_that_keep_the_gap(booking: Booking) -> None:
    requests = await booking.requests(await booking.cycle(sessions=2, min_gap_days=5))
    url = "/v1/booking-requests/{}/slots"
    assert await local_days(booking, url.format(requests[1]["id"])) == {
        date(2026, 1, 12) + timedelta(days=d) for d in range(5)
    }
    placed = await booking.post("/v1/appointments", body(booking, requests[0], LAST_OF_1))
    assert placed.status_code == 201, placed.text
    # Session 2: only from 01-14, for staff and for the patient's page.
    assert await local_days(booking, url.format(requests[1]["id"])) == {
        date(2026, 1, 14), date(2026, 1, 15), date(2026, 1, 16)
    }  # fmt: skip
    link = await booking.patient_link(requests[1]["id"])
    mine = f"/v1/self-booking/requests/{requests[1]['id']}/slots"
    assert min(await local_days(booking, mine, headers=link)) == date(2026, 1, 14)
    # The other way round: session 2 on its first day leaves session 1 nothing after 01-07.
    cancel = await booking.post(f"/v1/appointments/{placed.json()['id']}/cancel")
    assert cancel.status_code == 200, cancel.text
    two = await booking.post("/v1/appointments", body(booking, requests[1], FIRST_OF_2))
    assert two.status_code == 201, two.text
    days = await local_days(booking, url.format(requests[0]["id"]))
    assert days
    assert max(days) == date(2026, 1, 7)


async def test_the_gap_plans_sends_is_kept_and_a_window_change_updates_it(
    booking: Booking,
) -> None:
    # A protocol whose minimum gap (6) is more than its windows allow (5).
    cycle = await booking.cycle(sessions=2, min_gap_days=6)
    requests = await booking.requests(cycle)
    placed = await booking.post("/v1/appointments", body(booking, requests[0], date(2026, 1, 7)))
    assert placed.status_code == 201, placed.text
    refused = await booking.post("/v1/appointments", body(booking, requests[1], FIRST_OF_2))
    assert_too_close(
        refused, session=2, neighbour=1, allowed="the earliest allowed date is 2026-01-13"
    )
    # A re-anchoring that carries the gap (4 now) applies to the whole course.
    window = SessionWindow(
        session_number=2, total_sessions=2, target_date=date(2026, 1, 13),
        earliest_date=date(2026, 1, 11), latest_date=date(2026, 1, 15),
    )  # fmt: skip
    await booking.apply(
        WindowsChanged(
            plan_id=cycle.plan_id,
            patient_id=cycle.patient_id,
            reason="reanchored",
            sessions=[window],
            min_gap_days=4,
        )
    )
    assert [r["min_gap_days"] for r in await booking.requests(cycle)] == [4, 4]
    fine = await booking.post("/v1/appointments", body(booking, requests[1], date(2026, 1, 11)))
    assert fine.status_code == 201, fine.text
    # An older event without the gap leaves what is known.
    await booking.apply(
        WindowsChanged(
            plan_id=cycle.plan_id, patient_id=cycle.patient_id, reason="reanchored", sessions=[]
        )
    )
    assert [r["min_gap_days"] for r in await booking.requests(cycle)] == [4, 4]


def test_an_event_from_before_the_field_still_parses() -> None:
    old = {
        "plan_id": "00000000-0000-0000-0000-000000000001",
        "patient_id": "00000000-0000-0000-0000-000000000002",
        "reason": "reopened", "sessions": [],
    }  # fmt: skip
    assert WindowsChanged.model_validate(old).min_gap_days is None
    assert "min_gap_days" in CycleScheduled.model_fields


@pytest.fixture
async def auto_booking(fresh_database: str, bootstrap_servers: str) -> AsyncIterator[Booking]:
    async with running_booking(fresh_database, bootstrap_servers, booking_mode="auto") as running:
        await running.seed_clinic()
        yield running


async def test_auto_mode_holds_the_next_session_no_closer_than_the_gap(
    auto_booking: Booking,
) -> None:
    booking = auto_booking
    cycle = await booking.cycle(sessions=2, min_gap_days=6)
    first, _ = await booking.requests(cycle)
    listed = await booking.client.get(
        "/v1/appointments", params={"patient_id": first["patient_id"], "status": "held"}
    )
    [hold] = listed.json()
    # Staff move the held session 1 to the last day of its window, then book it.
    moved = await booking.post(
        f"/v1/appointments/{hold['id']}/reschedule", {"starts_at": at(LAST_OF_1, 10)}
    )
    assert moved.status_code == 200, moved.text
    assert (await booking.post(f"/v1/appointments/{hold['id']}/book")).status_code == 200
    # Session 2 is held 6 days after at the earliest: not on its target date, 01-14.
    listed = await booking.client.get(
        "/v1/appointments", params={"patient_id": first["patient_id"], "status": "held"}
    )
    [next_hold] = listed.json()
    day = datetime.fromisoformat(next_hold["starts_at"]).astimezone(PARIS).date()
    assert day >= date(2026, 1, 15)


async def test_the_pair_booked_at_the_same_moment_is_booked_once(booking: Booking) -> None:
    """Both sessions of a course placed concurrently: the course is locked first, so the
    second judged sees the first and is refused."""
    for _ in range(5):
        requests = await booking.requests(await booking.cycle(sessions=2, min_gap_days=5))
        one, two = await asyncio.gather(
            booking.post("/v1/appointments", body(booking, requests[0], LAST_OF_1)),
            booking.post("/v1/appointments", body(booking, requests[1], FIRST_OF_2)),
        )
        assert sorted([one.status_code, two.status_code]) == [201, 409], (one.text, two.text)
        refused = one if one.status_code == 409 else two
        assert refused.json()["conflict"] == "min_gap"
        # Another course's patient, same practitioner and room: use other days next round.
        for response in (one, two):
            if response.status_code == 201:
                cancel = await booking.post(f"/v1/appointments/{response.json()['id']}/cancel")
                assert cancel.status_code == 200, cancel.text
