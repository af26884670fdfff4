"""An invitation to book goes out only while its session is still to book.

In quiet hours notify holds the invitation for the morning; whatever takes its session
meanwhile (staff book it, the patient books it from a link, the plan is paused or
cancelled) withdraws it, and the message log says why. The patient then gets what is
true in the morning: the confirmation, or nothing.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import httpx

from devstack.stack import Stack
from tests.e2e.conftest import PARIS, eventually, invitation_link, paris_today
from tests.e2e.sms import logged_messages, nothing_due, sandbox_messages, sent_sms
from tests.e2e.test_patient_replies import own_practitioner_and_room
from tests.e2e.test_plan_to_sms import new_patient, open_requests
from tests.utils.booking import token_of


def into_quiet_hours(stack: Stack) -> None:
    """Move the stack's clock to the next 22:00 in Paris: SMS wait for 08:00."""
    now = stack.clock.now().astimezone(PARIS)
    tonight = datetime.combine(now.date(), time(22), PARIS)
    if now.time() >= time(22) or now.time() < time(8):
        return
    stack.clock.set(tonight)


async def plan_with_waiting_invitation(
    stack: Stack, staff: httpx.AsyncClient, clinic: dict[str, Any], phone: str
) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """A patient's activated plan, late in the evening: (patient, plan id, invitation)."""
    into_quiet_hours(stack)
    patient = await new_patient(staff, stack, phone)
    start = paris_today(stack) + timedelta(days=2)
    plan = await staff.post(f"{stack.urls['plans']}/v1/plans", json={
        "patient_id": patient["id"], "protocol_id": clinic["protocol_ids"]["medical"],
        "areas": ["back"], "start_date": start.isoformat(),
    })  # fmt: skip
    plan_id = plan.json()["id"]
    activated = await staff.post(f"{stack.urls['plans']}/v1/plans/{plan_id}/activate")
    assert activated.status_code == 200, activated.text

    async def waiting() -> dict[str, Any] | None:
        found = await logged_messages(stack, staff, patient["id"], "invitation")
        return found[0] if found else None

    invitation = await eventually(waiting, what="the invitation to be planned")
    assert invitation["status"] == "pending"
    assert datetime.fromisoformat(invitation["due_at"]) > stack.clock.now()  # the morning
    return patient, plan_id, invitation


async def withdrawn(
    stack: Stack, staff: httpx.AsyncClient, patient_id: str, invitation: dict[str, Any]
) -> str:
    """Wait for the invitation to be withdrawn; its reason."""

    async def probe() -> dict[str, Any] | None:
        for message in await logged_messages(stack, staff, patient_id, "invitation"):
            if message["id"] == invitation["id"] and message["status"] == "skipped":
                return message
        return None

    found = await eventually(probe, what=f"invitation {invitation['id']} withdrawn")
    reason: str = found["status_reason"]
    return reason


async def test_staff_booking_the_session_withdraws_its_invitation_and_only_the_confirmation_goes(
    stack: Stack, clinic: dict[str, Any], staff: httpx.AsyncClient
) -> None:
    phone = "+33644001122"
    patient, _, invitation = await plan_with_waiting_invitation(stack, staff, clinic, phone)
    practitioner, room = await own_practitioner_and_room(staff, stack, clinic)
    [first, *_] = await open_requests(staff, stack, patient["id"], count=5)
    booked = await staff.post(f"{stack.urls['booking']}/v1/appointments", json={
        "booking_request_id": first["id"], "practitioner_id": practitioner, "room_id": room,
        "starts_at": datetime.combine(
            datetime.fromisoformat(first["earliest_date"]).date(), time(11), PARIS
        ).isoformat(),
    })  # fmt: skip
    assert booked.status_code == 201, booked.text

    assert await withdrawn(stack, staff, patient["id"], invitation) == (
        "withdrawn: session 1 is booked"
    )
    # The morning comes: the confirmation goes, and nothing else.
    confirmation = await sent_sms(stack, staff, patient_id=patient["id"], kind="confirmation",
                                  appointment_id=booked.json()["id"])  # fmt: skip
    await nothing_due(stack, staff, patient["id"])
    assert [m["sid"] for m in await sandbox_messages(stack, phone)] == [confirmation.sent["sid"]]


async def test_the_patient_booking_from_a_link_withdraws_the_waiting_invitation(
    stack: Stack, clinic: dict[str, Any], staff: httpx.AsyncClient
) -> None:
    patient, _, invitation = await plan_with_waiting_invitation(
        stack, staff, clinic, "+33644002233"
    )
    link = token_of(await invitation_link(stack, patient["id"]))
    booking = f"{stack.urls['booking']}/v1/self-booking"
    async with httpx.AsyncClient(base_url=booking, headers={"X-Patient-Token": link}) as me:
        [first, *_] = (await me.get("/requests")).json()
        slot = (await me.get(f"/requests/{first['id']}/slots")).json()[0]
        held = await me.post("/holds", json={
            "booking_request_id": first["id"], "practitioner_id": slot["practitioner_id"],
            "room_id": slot["room_id"], "starts_at": slot["starts_at"],
        })  # fmt: skip
        assert held.status_code == 201, held.text
    assert await withdrawn(stack, staff, patient["id"], invitation) == (
        "withdrawn: session 1 is held"
    )


async def test_pausing_or_cancelling_the_plan_withdraws_its_waiting_invitation(
    stack: Stack, clinic: dict[str, Any], staff: httpx.AsyncClient
) -> None:
    plans = f"{stack.urls['plans']}/v1/plans"
    paused, paused_plan, paused_invitation = await plan_with_waiting_invitation(
        stack, staff, clinic, "+33644003344"
    )
    cancelled, cancelled_plan, cancelled_invitation = await plan_with_waiting_invitation(
        stack, staff, clinic, "+33644004455"
    )
    assert (await staff.post(f"{plans}/{paused_plan}/pause")).status_code == 200
    response = await staff.post(f"{plans}/{cancelled_plan}/cancel", json={"reason": "moved"})
    assert response.status_code == 200, response.text

    assert "no longer scheduled" in await withdrawn(stack, staff, paused["id"], paused_invitation)
    assert await withdrawn(stack, staff, cancelled["id"], cancelled_invitation) == (
        "withdrawn: the plan was cancelled"
    )
