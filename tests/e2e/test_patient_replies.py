"""A patient's SMS replies travel back through the real processes: C confirms, STOP stops."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from devstack.stack import Stack
from tests.e2e.conftest import eventually, paris_today
from tests.e2e.sms import nothing_due, sandbox_messages, sent_sms
from tests.e2e.test_plan_to_sms import new_patient, open_requests

PARIS = ZoneInfo("Europe/Paris")
CLINIC_NUMBER = "+15005550006"


async def book_first_session(
    staff: httpx.AsyncClient, stack: Stack, clinic: dict[str, Any], phone: str, hour: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A patient with a medical plan starting in two days and its session 1 booked, on a
    practitioner and a room of this test's own (other tests book the demo clinic's)."""
    practitioner, room = await own_practitioner_and_room(staff, stack, clinic)
    patient = await new_patient(staff, stack, phone)
    start = paris_today(stack) + timedelta(days=2)
    response = await staff.post(
        f"{stack.urls['plans']}/v1/plans",
        json={
            "patient_id": patient["id"],
            "protocol_id": clinic["protocol_ids"]["medical"],
            "areas": ["back"],
            "start_date": start.isoformat(),
        },
    )
    await staff.post(f"{stack.urls['plans']}/v1/plans/{response.json()['id']}/activate")
    request = (await open_requests(staff, stack, patient["id"], count=5))[0]
    response = await staff.post(
        f"{stack.urls['booking']}/v1/appointments",
        json={
            "booking_request_id": request["id"],
            "practitioner_id": practitioner,
            "room_id": room,
            "starts_at": datetime.combine(start, time(hour, 0), PARIS).isoformat(),
        },
    )
    assert response.status_code == 201, response.text
    appointment: dict[str, Any] = response.json()
    return patient, appointment


async def own_practitioner_and_room(
    staff: httpx.AsyncClient, stack: Stack, clinic: dict[str, Any]
) -> tuple[str, str]:
    location = clinic["location_id"]
    practitioner = await staff.post(
        f"{stack.urls['booking']}/v1/practitioners",
        json={"location_id": location, "full_name": "Dr Test", "indications": ["medical"]},
    )
    room = await staff.post(
        f"{stack.urls['booking']}/v1/rooms", json={"location_id": location, "name": "Test room"}
    )
    return practitioner.json()["id"], room.json()["id"]


async def reply(stack: Stack, phone: str, body: str) -> dict[str, Any]:
    """The patient texts the clinic: the sandbox delivers it to notify's signed webhook."""
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            f"{stack.urls['sandbox']}/_sandbox/inbound",
            json={"from": phone, "to": CLINIC_NUMBER, "body": body},
        )
    response.raise_for_status()
    delivered: dict[str, Any] = response.json()
    assert delivered["webhook_status"] == 200, delivered
    return delivered


async def test_replying_c_confirms_the_appointment_in_booking(
    stack: Stack, clinic: dict[str, Any], staff: httpx.AsyncClient
) -> None:
    phone = "+33610203040"
    patient, appointment = await book_first_session(staff, stack, clinic, phone, hour=11)
    await sent_sms(stack, staff, patient_id=patient["id"], kind="confirmation",
                   appointment_id=appointment["id"])  # fmt: skip

    await reply(stack, phone, "c")

    async def confirmed() -> dict[str, Any] | None:
        response = await staff.get(f"{stack.urls['booking']}/v1/appointments/{appointment['id']}")
        found: dict[str, Any] = response.json()
        return found if found["status"] == "confirmed" else None

    assert (await eventually(confirmed, what="booking to confirm"))["version"] > 1


async def test_stop_withdraws_consent_in_plans_and_nothing_more_is_sent(
    stack: Stack, clinic: dict[str, Any], staff: httpx.AsyncClient
) -> None:
    phone = "+33650607080"
    patient, first = await book_first_session(staff, stack, clinic, phone, hour=16)
    await sent_sms(stack, staff, patient_id=patient["id"], kind="confirmation",
                   appointment_id=first["id"])  # fmt: skip
    await nothing_due(stack, staff, patient["id"])
    sent_before = len(await sandbox_messages(stack, phone))

    await reply(stack, phone, "STOP")

    async def consent_withdrawn() -> dict[str, Any] | None:
        response = await staff.get(f"{stack.urls['plans']}/v1/patients/{patient['id']}")
        found: dict[str, Any] = response.json()
        return found if found["sms_consent"] is False else None

    record = await eventually(consent_withdrawn, what="plans to record the opt-out")
    assert record["sms_consent_source"] == "SMS reply STOP"

    # Move the appointment: its new confirmation is planned, and skipped, not sent.
    requests = await open_requests(staff, stack, patient["id"], count=5)
    response = await staff.post(
        f"{stack.urls['booking']}/v1/appointments",
        json={
            "booking_request_id": requests[1]["id"],
            "practitioner_id": first["practitioner_id"],
            "room_id": first["room_id"],
            "starts_at": datetime.combine(
                datetime.fromisoformat(requests[1]["target_date"]).date(), time(16, 0), PARIS
            ).isoformat(),
        },
    )
    assert response.status_code == 201, response.text

    async def confirmations_settled() -> list[dict[str, Any]] | None:
        # notify may re-plan once more when plans' consent update lands: wait until
        # nothing is pending and the final confirmation is skipped.
        response = await staff.get(
            f"{stack.urls['notify']}/v1/messages", params={"appointment_id": appointment_id}
        )
        found = [m for m in response.json() if m["kind"] == "confirmation"]
        settled = found and all(m["status"] != "pending" for m in found)
        return found if settled and any(m["status"] == "skipped" for m in found) else None

    appointment_id = response.json()["id"]
    confirmations = await eventually(confirmations_settled, what="the confirmation to settle")
    assert {m["status"] for m in confirmations} <= {"skipped", "replaced"}, confirmations
    assert len(await sandbox_messages(stack, phone)) == sent_before
