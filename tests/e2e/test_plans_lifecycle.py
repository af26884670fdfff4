"""A plan's life across the whole system: booking follows every window plans moves, and
plans follows booking's appointments (real processes, broker and database)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from devstack.stack import Stack
from tests.e2e.conftest import eventually, paris_today
from tests.e2e.test_patient_replies import book_first_session
from tests.e2e.test_plan_to_sms import new_patient, open_requests

PARIS = ZoneInfo("Europe/Paris")


async def _requests(staff: httpx.AsyncClient, stack: Stack, plan_id: str) -> list[dict[str, Any]]:
    response = await staff.get(
        f"{stack.urls['booking']}/v1/booking-requests", params={"plan_id": plan_id}
    )
    found: list[dict[str, Any]] = sorted(response.json(), key=lambda r: r["session_number"])
    return found


async def _plan(staff: httpx.AsyncClient, stack: Stack, plan_id: str) -> dict[str, Any]:
    plan: dict[str, Any] = (await staff.get(f"{stack.urls['plans']}/v1/plans/{plan_id}")).json()
    return plan


async def test_a_cancelled_appointment_reopens_its_session_in_plans(
    stack: Stack, clinic: dict[str, Any], staff: httpx.AsyncClient
) -> None:
    patient = await new_patient(staff, stack, "+33699887766")
    start = paris_today(stack) + timedelta(days=2)
    plans = f"{stack.urls['plans']}/v1/plans"
    response = await staff.post(
        plans,
        json={"patient_id": patient["id"], "protocol_id": clinic["protocol_ids"]["medical"],
              "areas": ["back"], "start_date": start.isoformat()},
    )  # fmt: skip
    plan_id = response.json()["id"]
    await staff.post(f"{plans}/{plan_id}/activate")
    await open_requests(staff, stack, patient["id"], count=5)
    first = next(r for r in await _requests(staff, stack, plan_id) if r["session_number"] == 1)
    response = await staff.post(
        f"{stack.urls['booking']}/v1/appointments",
        json={"booking_request_id": first["id"], "practitioner_id": clinic["practitioner_ids"][1],
              "room_id": clinic["room_ids"][1],
              "starts_at": datetime.combine(start, time(11, 0), PARIS).isoformat()},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    appointment_id = response.json()["id"]

    async def session_one(status: str) -> dict[str, Any] | None:
        plan = await _plan(staff, stack, plan_id)
        return plan if plan["sessions"][0]["status"] == status else None

    booked = await eventually(lambda: session_one("booked"), what="session 1 booked in plans")
    assert booked["sessions"][0]["appointment_id"] == appointment_id

    response = await staff.post(
        f"{stack.urls['booking']}/v1/appointments/{appointment_id}/cancel",
        json={"reason": "patient called"},
    )
    assert response.status_code == 200, response.text
    await eventually(lambda: session_one("open"), what="session 1 reopened in plans")
    progress = (await staff.get(f"{plans}/{plan_id}/progress")).json()
    assert (progress["open"], progress["booked"]) == (5, 0)


async def test_pausing_resuming_and_cancelling_a_plan_reach_its_booking_requests(
    stack: Stack, clinic: dict[str, Any], staff: httpx.AsyncClient
) -> None:
    patient = await new_patient(staff, stack, "+33688776655")
    start = paris_today(stack) + timedelta(days=1)
    plans = f"{stack.urls['plans']}/v1/plans"
    response = await staff.post(
        plans,
        json={"patient_id": patient["id"], "protocol_id": clinic["protocol_ids"]["face-neck"],
              "areas": ["face"], "start_date": start.isoformat()},
    )  # fmt: skip
    plan_id = response.json()["id"]
    await staff.post(f"{plans}/{plan_id}/activate")
    await open_requests(staff, stack, patient["id"], count=6)

    async def requests_are(status: str, **first: Any) -> list[dict[str, Any]] | None:
        found = await _requests(staff, stack, plan_id)
        if {r["status"] for r in found} != {status}:
            return None
        return found if all(found[0][k] == v for k, v in first.items()) else None

    assert (await staff.post(f"{plans}/{plan_id}/pause")).status_code == 200
    await eventually(lambda: requests_are("withdrawn"), what="requests withdrawn in booking")

    resume_on = start + timedelta(days=30)
    response = await staff.post(
        f"{plans}/{plan_id}/resume", json={"resume_on": resume_on.isoformat()}
    )
    assert response.status_code == 200, response.text
    assert response.json()["sessions"][0]["target_date"] == resume_on.isoformat()
    await eventually(
        lambda: requests_are("open", target_date=resume_on.isoformat()),
        what="requests reopened from the resume date in booking",
    )

    response = await staff.post(f"{plans}/{plan_id}/cancel", json={"reason": "changed her mind"})
    assert response.json()["status"] == "cancelled"
    await eventually(lambda: requests_are("cancelled"), what="requests cancelled in booking")


async def test_an_appointment_cancelled_while_its_plan_is_paused_waits_for_the_resume(
    stack: Stack, clinic: dict[str, Any], staff: httpx.AsyncClient
) -> None:
    """A pause keeps booked sessions. Cancelling one during the pause reopens its request
    in booking for a moment, then plans withdraws it there too: nobody is invited to book
    a paused plan. The resume reopens it with the others."""
    patient, appointment = await book_first_session(staff, stack, clinic, "+33677001122", 15)
    response = await staff.get(
        f"{stack.urls['booking']}/v1/booking-requests", params={"patient_id": patient["id"]}
    )
    plan_id = response.json()[0]["plan_id"]

    async def plan_sessions_are(*expected: str) -> dict[str, Any] | None:
        plan = await _plan(staff, stack, plan_id)
        return plan if [s["status"] for s in plan["sessions"]] == list(expected) else None

    # Paused before plans hears of the booking, session 1 would be withdrawn as open.
    await eventually(lambda: plan_sessions_are("booked", *["open"] * 4), what="booked in plans")
    plans = f"{stack.urls['plans']}/v1/plans"
    assert (await staff.post(f"{plans}/{plan_id}/pause")).status_code == 200

    async def statuses_are(*expected: str) -> list[dict[str, Any]] | None:
        found = await _requests(staff, stack, plan_id)
        return found if [r["status"] for r in found] == list(expected) else None

    await eventually(
        lambda: statuses_are("booked", *["withdrawn"] * 4), what="sessions 2-5 withdrawn"
    )
    response = await staff.post(
        f"{stack.urls['booking']}/v1/appointments/{appointment['id']}/cancel",
        json={"reason": "patient called"},
    )
    assert response.status_code == 200, response.text
    await eventually(lambda: statuses_are(*["withdrawn"] * 5), what="session 1 withdrawn")
    assert await plan_sessions_are(*["withdrawn"] * 5)

    assert (await staff.post(f"{plans}/{plan_id}/resume", json={})).status_code == 200
    await eventually(lambda: statuses_are(*["open"] * 5), what="all five reopened")
