"""What plans' events do to booking requests and appointments: windows re-anchored,
reopened after a no-show or a cancellation, withdrawn and resumed with a pause, and a
cancelled plan. Each event goes through booking's own handler, in one transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from shared.contracts.plans import (
    CycleScheduled,
    PlanCancelled,
    SessionWindow,
    WindowsChanged,
    WindowsWithdrawn,
)
from tests.integration.test_booking_lifecycle import at
from tests.utils.booking import Booking, running_booking


@pytest.fixture
async def booking(fresh_database: str, bootstrap_servers: str) -> AsyncIterator[Booking]:
    async with running_booking(fresh_database, bootstrap_servers) as running:
        await running.seed_clinic()
        yield running


def window(number: int, target: date, total: int = 3, slack: int = 2) -> SessionWindow:
    return SessionWindow(
        session_number=number, total_sessions=total, target_date=target,
        earliest_date=target - timedelta(days=slack), latest_date=target + timedelta(days=slack),
    )  # fmt: skip


def changed(cycle: CycleScheduled, reason: str, *windows: SessionWindow) -> WindowsChanged:
    return WindowsChanged(
        plan_id=cycle.plan_id, patient_id=cycle.patient_id, reason=reason, sessions=list(windows)
    )


async def book(
    booking: Booking, request: dict[str, Any], day: str | date | None = None, hour: int = 10
) -> Any:
    return await booking.post(
        "/v1/appointments",
        {"booking_request_id": request["id"], "practitioner_id": booking.practitioner_ids[0],
         "room_id": booking.room_ids[0], "starts_at": at(day or request["target_date"], hour)},
    )  # fmt: skip


async def invitations_for(booking: Booking, request: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        e
        for e in await booking.events("booking_invitation_issued.v1")
        if e["booking_request_id"] == request["id"]
    ]


async def test_a_reanchored_window_moves_the_open_request_and_leaves_a_booked_one_booked(
    booking: Booking,
) -> None:
    cycle = await booking.cycle(sessions=3)
    first, second, third = await booking.requests(cycle)
    appointment = (await book(booking, first)).json()
    later = date.fromisoformat(second["target_date"]) + timedelta(days=3)
    await booking.apply(
        changed(
            cycle,
            "reanchored",
            window(1, date.fromisoformat(first["target_date"]) + timedelta(days=1)),
            window(2, later),
            window(3, later + timedelta(days=7)),
        )
    )
    after = {r["session_number"]: r for r in await booking.requests(cycle)}
    assert (after[2]["status"], after[2]["target_date"]) == ("open", later.isoformat())
    assert after[3]["earliest_date"] == (later + timedelta(days=5)).isoformat()
    assert after[1]["status"] == "booked"
    still = await booking.client.get(f"/v1/appointments/{appointment['id']}")
    assert (still.json()["status"], still.json()["version"]) == ("booked", 1)
    # Nothing reopened: no new link for anyone.
    assert await invitations_for(booking, second) == []
    assert await invitations_for(booking, third) == []
    # The moved request books inside its new window, not its old one.
    assert (await book(booking, second, second["target_date"])).status_code == 422
    assert (await book(booking, second, later)).status_code == 201


@pytest.mark.parametrize("how", ["no-show", "cancel"])
async def test_a_reopened_session_is_open_in_its_new_window_with_a_new_link(
    booking: Booking, how: str
) -> None:
    cycle = await booking.cycle(sessions=2)
    first, _ = await booking.requests(cycle)
    appointment = (await book(booking, first)).json()
    if how == "no-show":
        booking.clock.set(datetime.fromisoformat(appointment["starts_at"]) + timedelta(minutes=20))
    response = await booking.post(f"/v1/appointments/{appointment['id']}/{how}")
    assert response.status_code == 200, response.text
    # Booking reopens the request itself at once; plans then sends its new window.
    assert (await booking.requests(cycle))[0]["status"] == "open"
    links_before = len(await invitations_for(booking, first))
    new_target = date.fromisoformat(first["target_date"]) + timedelta(days=4)
    await booking.apply(changed(cycle, "reopened", window(1, new_target, total=2)))
    reopened = (await booking.requests(cycle))[0]
    assert reopened["status"] == "open"
    assert (reopened["earliest_date"], reopened["latest_date"]) == (
        (new_target - timedelta(days=2)).isoformat(),
        (new_target + timedelta(days=2)).isoformat(),
    )
    [link] = (await invitations_for(booking, first))[links_before:]
    assert (link["earliest_date"], link["latest_date"]) == (
        reopened["earliest_date"],
        reopened["latest_date"],
    )
    assert link["appointment_id"] is None
    rebooked = await book(booking, first, new_target + timedelta(days=1))
    assert rebooked.status_code == 201, rebooked.text
    # A late copy of the same change keeps the booking as it is.
    await booking.apply(changed(cycle, "reopened", window(1, new_target, total=2)))
    assert (await booking.requests(cycle))[0]["status"] == "booked"


async def test_a_pause_withdraws_open_sessions_and_cancels_their_holds_until_resumed(
    booking: Booking,
) -> None:
    cycle = await booking.cycle(sessions=3)
    first, second, third = await booking.requests(cycle)
    booked = (await book(booking, first)).json()
    held = await booking.post(
        "/v1/appointments",
        {"booking_request_id": second["id"], "practitioner_id": booking.practitioner_ids[0],
         "room_id": booking.room_ids[0], "starts_at": at(second["target_date"], 10), "hold": True},
    )  # fmt: skip
    assert held.status_code == 201, held.text
    await booking.apply(
        WindowsWithdrawn(plan_id=cycle.plan_id, patient_id=cycle.patient_id, session_numbers=[2, 3])
    )
    statuses = [r["status"] for r in await booking.requests(cycle)]
    assert statuses == ["booked", "withdrawn", "withdrawn"]
    hold = (await booking.client.get(f"/v1/appointments/{held.json()['id']}")).json()
    assert (hold["status"], hold["reason"]) == ("cancelled", "plan paused")
    [cancelled] = await booking.events("appointment_cancelled.v1")
    assert cancelled["changed_by"] == "plan"
    kept = (await booking.client.get(f"/v1/appointments/{booked['id']}")).json()
    assert kept["status"] == "booked"
    refused = await book(booking, third)
    assert refused.status_code == 409
    assert "withdrawn" in refused.json()["detail"]
    # Resumed three weeks later: both open again in their new windows; session 2 is offered.
    resume = date.fromisoformat(second["target_date"]) + timedelta(days=21)
    await booking.apply(
        changed(cycle, "resumed", window(2, resume), window(3, resume + timedelta(days=7)))
    )
    after = await booking.requests(cycle)
    assert [r["status"] for r in after] == ["booked", "open", "open"]
    assert after[1]["target_date"] == resume.isoformat()
    assert len(await invitations_for(booking, second)) == 1
    assert await invitations_for(booking, third) == []
    assert (await book(booking, second, resume)).status_code == 201


async def test_a_cancelled_plan_cancels_open_requests_and_future_appointments_only(
    booking: Booking,
) -> None:
    cycle = await booking.cycle(sessions=3)
    first, second, third = await booking.requests(cycle)
    done = (await book(booking, first)).json()
    url = f"/v1/appointments/{done['id']}"
    booking.clock.set(datetime.fromisoformat(done["starts_at"]))
    assert (await booking.post(f"{url}/check-in")).status_code == 200
    booking.clock.advance(timedelta(minutes=40))
    assert (await booking.post(f"{url}/complete")).json()["status"] == "completed"
    future = (await book(booking, second)).json()
    await booking.apply(
        PlanCancelled(plan_id=cycle.plan_id, patient_id=cycle.patient_id, reason="moved abroad")
    )
    statuses = [r["status"] for r in await booking.requests(cycle)]
    assert statuses == ["completed", "cancelled", "cancelled"]
    gone = (await booking.client.get(f"/v1/appointments/{future['id']}")).json()
    assert (gone["status"], gone["reason"]) == ("cancelled", "moved abroad")
    past = (await booking.client.get(url)).json()
    assert (past["status"], past["version"]) == ("completed", 3)
    [event] = await booking.events("appointment_cancelled.v1")
    assert (event["appointment_id"], event["changed_by"]) == (future["id"], "plan")
    assert (await book(booking, third)).status_code == 409
    # Redelivered, it changes nothing more.
    await booking.apply(PlanCancelled(plan_id=cycle.plan_id, patient_id=cycle.patient_id))
    assert len(await booking.events("appointment_cancelled.v1")) == 1
