"""Patients through their link: their own appointments only, the clinic's 24 h rule for
moving and cancelling online, and a rate limit per link that says when to come back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.integration.test_booking_lifecycle import at
from tests.utils.booking import Booking, running_booking


@pytest.fixture
async def booking(fresh_database: str, bootstrap_servers: str) -> AsyncIterator[Booking]:
    async with running_booking(
        fresh_database, bootstrap_servers, link_requests_per_minute=8
    ) as running:
        await running.seed_clinic()
        yield running


async def booked_by_patient(
    booking: Booking, hour: int = 10
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """A session the patient held and confirmed through their link: request, appointment,
    the link's headers."""
    [request] = await booking.requests(await booking.cycle())
    link = await booking.patient_link(request["id"])
    held = await booking.post(
        "/v1/self-booking/holds",
        {"booking_request_id": request["id"], "practitioner_id": booking.practitioner_ids[0],
         "room_id": booking.room_ids[0], "starts_at": at(request["target_date"], hour)},
        headers=link,
    )  # fmt: skip
    assert held.status_code == 201, held.text
    url = f"/v1/self-booking/appointments/{held.json()['id']}"
    confirmed = await booking.post(f"{url}/confirm", headers=link)
    assert confirmed.json()["status"] == "booked", confirmed.text
    return request, confirmed.json(), link


async def test_a_patient_moves_and_cancels_their_own_appointment_through_the_link(
    booking: Booking,
) -> None:
    request, appointment, link = await booked_by_patient(booking)
    url = f"/v1/self-booking/appointments/{appointment['id']}"
    moved = await booking.post(
        f"{url}/reschedule", {"starts_at": at(request["target_date"], 15)}, headers=link
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["status"], moved.json()["version"]) == ("booked", 3)
    [event] = await booking.events("appointment_rescheduled.v1")
    assert event["changed_by"] == "patient"
    # Outside the session's window: refused, saying so.
    outside = (datetime.fromisoformat(request["latest_date"]) + timedelta(days=3)).date()
    response = await booking.post(f"{url}/reschedule", {"starts_at": at(outside, 10)}, headers=link)
    assert response.status_code == 422
    assert "window" in response.json()["detail"]
    mine = await booking.client.get("/v1/self-booking/appointments", headers=link)
    assert [a["id"] for a in mine.json()] == [appointment["id"]]
    cancelled = await booking.post(f"{url}/cancel", headers=link)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    [after] = await booking.requests(request["plan_id"])
    assert after["status"] == "open"  # the session can be booked again


async def test_a_link_opens_no_other_patients_appointment(booking: Booking) -> None:
    _, theirs, _ = await booked_by_patient(booking, hour=10)
    _, _, my_link = await booked_by_patient(booking, hour=14)
    url = f"/v1/self-booking/appointments/{theirs['id']}"
    for step, body in (("cancel", None), ("confirm", None), ("reschedule", {"starts_at": at(
        theirs["starts_at"][:10], 16)})):  # fmt: skip
        response = await booking.post(f"{url}/{step}", body, headers=my_link)
        assert response.status_code == 404, (step, response.text)
    [event] = [
        e
        for e in await booking.events("appointment_booked.v1")
        if e["appointment_id"] == theirs["id"]
    ]
    assert event["version"] == 2  # untouched


async def test_patients_cannot_move_or_cancel_online_within_24_hours_but_staff_can(
    booking: Booking,
) -> None:
    request, appointment, link = await booked_by_patient(booking)
    starts_at = datetime.fromisoformat(appointment["starts_at"])
    booking.clock.set(starts_at - timedelta(hours=23))
    url = f"/v1/self-booking/appointments/{appointment['id']}"
    response = await booking.post(f"{url}/cancel", headers=link)
    assert response.status_code == 409
    assert "less than 24 h before" in response.json()["detail"]
    assert "call the clinic" in response.json()["detail"]
    response = await booking.post(
        f"{url}/reschedule", {"starts_at": at(request["target_date"], 16)}, headers=link
    )
    assert response.status_code == 409
    assert "cannot be moved online" in response.json()["detail"]
    # Confirming is no change of plan: still allowed.
    confirmed = await booking.post(f"{url}/confirm", headers=link)
    assert confirmed.json()["status"] == "confirmed"
    # 25 h before, the patient still could have; staff always can.
    staff = await booking.post(f"/v1/appointments/{appointment['id']}/cancel", {"reason": "ill"})
    assert staff.status_code == 200, staff.text
    assert staff.json()["status"] == "cancelled"


async def test_the_cutoff_starts_exactly_24_hours_before(booking: Booking) -> None:
    _, appointment, link = await booked_by_patient(booking)
    starts_at = datetime.fromisoformat(appointment["starts_at"])
    booking.clock.set(starts_at - timedelta(hours=24))
    url = f"/v1/self-booking/appointments/{appointment['id']}/cancel"
    assert (await booking.post(url, headers=link)).status_code == 200


async def test_a_link_past_its_rate_limit_gets_429_with_retry_after_then_works_again(
    booking: Booking,
) -> None:
    [request] = await booking.requests(await booking.cycle())
    link = await booking.patient_link(request["id"])
    booking.clock.set(booking.clock.now().replace(second=30))
    for _ in range(booking.settings.link_requests_per_minute):
        response = await booking.client.get("/v1/self-booking/requests", headers=link)
        assert response.status_code == 200, response.text
    refused = await booking.client.get("/v1/self-booking/requests", headers=link)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "31"
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "at most 8 requests a minute" in refused.json()["detail"]
    # Writes count too, and another link has its own budget.
    held = await booking.post("/v1/self-booking/holds", {}, headers=link)
    assert held.status_code == 429
    other = await booking.patient_link(request["id"])
    assert (await booking.client.get("/v1/self-booking/requests", headers=other)).status_code == 200
    booking.clock.advance(timedelta(seconds=31))
    again = await booking.client.get("/v1/self-booking/requests", headers=link)
    assert again.status_code == 200, again.text


async def test_an_expired_link_is_refused(booking: Booking) -> None:
    [request] = await booking.requests(await booking.cycle())
    link = await booking.patient_link(request["id"])
    booking.clock.advance(timedelta(days=booking.settings.link_days, seconds=1))
    response = await booking.client.get("/v1/self-booking/requests", headers=link)
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


async def test_the_texted_link_is_the_pages_path_form_and_the_query_form_still_opens(
    booking: Booking,
) -> None:
    [request] = await booking.requests(await booking.cycle())
    await booking.post(f"/v1/booking-requests/{request['id']}/invitations")
    invitation = (await booking.events("booking_invitation_issued.v1"))[-1]
    link = urlparse(invitation["link_url"])
    assert not link.query
    assert link.path.startswith("/book/")
    token = link.path.removeprefix("/book/")
    assert len(token) >= 32
    page = await booking.client.get(link.path)
    assert page.status_code == 200
    assert token in page.text  # the page hands its token to its script
    by_query = await booking.client.get("/book", params={"token": token})
    assert by_query.status_code == 200
    assert token in by_query.text
