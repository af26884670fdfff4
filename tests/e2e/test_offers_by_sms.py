"""Earlier-slot offers through the real processes: a cancellation in booking becomes an
offer SMS from notify; the patient's NO goes back through notify to booking, which texts
the next patient. In the patients' quiet hours (the night run) nobody is texted at all."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from devstack.stack import Stack
from shared.clock import is_quiet
from tests.e2e.conftest import eventually, paris_today
from tests.e2e.sms import logged_messages, sent_sms
from tests.e2e.test_patient_replies import own_practitioner_and_room, reply
from tests.e2e.test_plan_to_sms import new_patient, open_requests

PARIS = ZoneInfo("Europe/Paris")
#: Far enough ahead that no other test's medical course has a session open then.
AHEAD = timedelta(days=100)


async def medical_plan(
    staff: httpx.AsyncClient, stack: Stack, clinic: dict[str, Any], phone: str, start: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A patient with an active 5-session medical plan from ``start``: them, session 1."""
    patient = await new_patient(staff, stack, phone)
    plan = await staff.post(
        f"{stack.urls['plans']}/v1/plans",
        json={"patient_id": patient["id"], "protocol_id": clinic["protocol_ids"]["medical"],
              "areas": ["back"], "start_date": start.isoformat()},
    )  # fmt: skip
    assert plan.status_code == 201, plan.text
    await staff.post(f"{stack.urls['plans']}/v1/plans/{plan.json()['id']}/activate")
    [first, *_] = await open_requests(staff, stack, patient["id"], count=5)
    return patient, first


async def offers_of(
    staff: httpx.AsyncClient, stack: Stack, clinic: dict[str, Any], day: Any
) -> list[dict[str, Any]]:
    response = await staff.get(
        f"{stack.urls['booking']}/v1/offers",
        params={"day": day.isoformat(), "location_id": clinic["location_id"]},
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


async def test_a_cancelled_session_is_offered_by_sms_and_no_passes_it_to_the_next_patient(
    stack: Stack, clinic: dict[str, Any], staff: httpx.AsyncClient
) -> None:
    practitioner, room = await own_practitioner_and_room(staff, stack, clinic)
    start = paris_today(stack) + AHEAD
    _, session = await medical_plan(staff, stack, clinic, "+33670000001", start)
    # Both could take the time (a first session's window is its start and two days after);
    # the first's window ends sooner, so it is offered first.
    first, _ = await medical_plan(staff, stack, clinic, "+33670000002", start - timedelta(days=1))
    second, _ = await medical_plan(staff, stack, clinic, "+33670000003", start)
    booked = await staff.post(
        f"{stack.urls['booking']}/v1/appointments",
        json={"booking_request_id": session["id"], "practitioner_id": practitioner,
              "room_id": room, "starts_at": datetime.combine(start, time(10), PARIS).isoformat()},
    )  # fmt: skip
    assert booked.status_code == 201, booked.text
    cancelled = await staff.post(
        f"{stack.urls['booking']}/v1/appointments/{booked.json()['id']}/cancel", json={}
    )
    assert cancelled.status_code == 200, cancelled.text

    if is_quiet(stack.clock.now(), PARIS, time(21), time(8)):
        # Never in the patients' quiet hours: the time is freed, nobody is texted.
        assert await offers_of(staff, stack, clinic, start) == []
        return

    offered = await sent_sms(stack, staff, patient_id=first["id"], kind="offer")
    assert "10:00" in offered.sent["body"]
    assert "Répondez NON pour la laisser." in offered.sent["body"]  # the patient reads French
    [live] = await offers_of(staff, stack, clinic, start)
    assert (live["patient_id"], live["status"]) == (first["id"], "live")

    await reply(stack, "+33670000002", "non")

    await sent_sms(stack, staff, patient_id=second["id"], kind="offer")

    async def passed_on() -> list[dict[str, Any]] | None:
        found = await offers_of(staff, stack, clinic, start)
        return found if [o["status"] for o in found] == ["declined", "live"] else None

    [declined, now_live] = await eventually(passed_on, what="the offer to pass on")
    assert declined["reason"] == "the patient replied NO"
    assert now_live["patient_id"] == second["id"]
    # The first patient was texted the offer once.
    [texted] = await logged_messages(stack, staff, first["id"], kind="offer")
    assert texted["twilio_sid"] == offered.log["twilio_sid"]
