"""Patients forgotten, notify's news (a reschedule asked by SMS, where messages stand),
and the sweeper at work: each through booking's own handlers or worker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from shared.contracts.notify import MessageStatusChanged, RescheduleRequested
from shared.contracts.plans import PatientErased, PatientRegistered, PatientUpdated
from tests.clock import TEST_NOW
from tests.integration.test_booking_lifecycle import at
from tests.utils.booking import Booking, running_booking, token_of


@pytest.fixture
async def booking(fresh_database: str, bootstrap_servers: str) -> AsyncIterator[Booking]:
    async with running_booking(fresh_database, bootstrap_servers) as running:
        await running.seed_clinic()
        yield running


def contact(patient_id: uuid.UUID, kind: type[PatientRegistered] | type[PatientUpdated]) -> Any:
    return kind(
        patient_id=patient_id, full_name="Léa Martin", phone="+33611223344",
        time_zone="Europe/Paris", language="fr", sms_consent=True, needle_sensitive=True,
    )  # fmt: skip


async def booked(booking: Booking, patient_id: uuid.UUID | None = None) -> dict[str, Any]:
    [request] = await booking.requests(await booking.cycle(patient_id=patient_id))
    response = await booking.post(
        "/v1/appointments",
        {"booking_request_id": request["id"], "practitioner_id": booking.practitioner_ids[0],
         "room_id": booking.room_ids[0], "starts_at": at(request["target_date"], 10)},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    appointment: dict[str, Any] = response.json()
    return appointment


async def schedule_line(booking: Booking, appointment: dict[str, Any]) -> dict[str, Any]:
    day = appointment["starts_at"][:10]
    response = await booking.client.get(
        "/v1/schedule", params={"day": day, "location_id": booking.location_id}
    )
    assert response.status_code == 200, response.text
    [line] = [x for x in response.json() if x["appointment"]["id"] == appointment["id"]]
    return dict(line)


async def test_an_erased_patient_loses_name_and_links_but_keeps_the_slot(booking: Booking) -> None:
    patient_id = uuid.uuid4()
    await booking.apply(contact(patient_id, PatientRegistered))
    appointment = await booked(booking, patient_id)
    assert (await schedule_line(booking, appointment))["patient_name"] == "Léa Martin"
    link = await booking.patient_link(appointment["booking_request_id"])
    assert (await booking.client.get("/v1/self-booking/requests", headers=link)).status_code == 200
    await booking.apply(PatientErased(patient_id=patient_id))
    line = await schedule_line(booking, appointment)
    assert line["patient_name"] is None
    assert line["appointment"]["status"] == "booked"
    assert (await booking.client.get("/v1/self-booking/requests", headers=link)).status_code == 401
    # A late update from before the erasure brings nothing back.
    await booking.apply(contact(patient_id, PatientUpdated))
    assert (await schedule_line(booking, appointment))["patient_name"] is None


async def test_a_reschedule_asked_by_sms_texts_a_link_that_moves_that_appointment(
    booking: Booking,
) -> None:
    appointment = await booked(booking)
    await booking.apply(
        RescheduleRequested(
            patient_id=uuid.UUID(appointment["patient_id"]),
            appointment_id=uuid.UUID(appointment["id"]),
            appointment_version=1,
            received_at=booking.clock.now(),
        )
    )
    [invitation] = [
        e for e in await booking.events("booking_invitation_issued.v1") if e["appointment_id"]
    ]
    assert invitation["appointment_id"] == appointment["id"]
    assert invitation["booking_request_id"] == appointment["booking_request_id"]
    link = {"X-Patient-Token": token_of(invitation["link_url"])}
    moved = await booking.post(
        f"/v1/self-booking/appointments/{appointment['id']}/reschedule",
        {"starts_at": at(appointment["starts_at"][:10], 15)},
        headers=link,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["version"] == 2
    # About an appointment booking does not know: nothing is sent.
    await booking.apply(
        RescheduleRequested(
            patient_id=uuid.uuid4(), appointment_id=uuid.uuid4(), appointment_version=1,
            received_at=booking.clock.now(),
        )
    )  # fmt: skip
    sent = [e for e in await booking.events("booking_invitation_issued.v1") if e["appointment_id"]]
    assert len(sent) == 1


def status(appointment: dict[str, Any] | None, kind: str, value: str) -> MessageStatusChanged:
    return MessageStatusChanged(
        message_id=uuid.uuid4(),
        appointment_id=uuid.UUID(appointment["id"]) if appointment else None,
        patient_id=uuid.UUID(appointment["patient_id"]) if appointment else uuid.uuid4(),
        kind=kind, status=value, error_code=None, changed_at=TEST_NOW,
    )  # fmt: skip


async def test_the_schedule_shows_where_confirmation_and_reminders_stand(booking: Booking) -> None:
    appointment = await booked(booking)
    line = await schedule_line(booking, appointment)
    assert (line["confirmation_status"], line["reminder_status"]) == (None, None)
    await booking.apply(status(appointment, "confirmation", "delivered"))
    await booking.apply(status(appointment, "reminder_24h", "sent"))
    await booking.apply(status(appointment, "invitation", "failed"))  # not the schedule's
    await booking.apply(status(None, "confirmation", "failed"))  # no appointment: ignored
    line = await schedule_line(booking, appointment)
    assert (line["confirmation_status"], line["reminder_status"]) == ("delivered", "sent")


async def test_the_sweeper_worker_expires_run_out_holds_and_reopens_their_sessions(
    fresh_database: str, bootstrap_servers: str
) -> None:
    async with running_booking(
        fresh_database, bootstrap_servers, workers=("sweep",), sweep_seconds=0.05
    ) as booking:
        await booking.seed_clinic()
        [request] = await booking.requests(await booking.cycle())
        held = await booking.post(
            "/v1/appointments",
            {"booking_request_id": request["id"], "practitioner_id": booking.practitioner_ids[0],
             "room_id": booking.room_ids[0], "starts_at": at(request["target_date"], 10),
             "hold": True},
        )  # fmt: skip
        assert held.status_code == 201, held.text
        url = f"/v1/appointments/{held.json()['id']}"
        await asyncio.sleep(0.3)  # a few sweeps: the hold still stands
        assert (await booking.client.get(url)).json()["status"] == "held"
        booking.clock.advance(booking.settings.hold_ttl + timedelta(seconds=1))

        async def expired() -> dict[str, Any] | None:
            found: dict[str, Any] = (await booking.client.get(url)).json()
            return found if found["status"] == "cancelled" else None

        for _ in range(100):
            if gone := await expired():
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the sweeper never expired the hold")
        assert gone["reason"] == "hold expired"
        [event] = await booking.events("appointment_cancelled.v1")
        assert (event["changed_by"], event["reason"]) == ("system", "hold expired")
        [after] = await booking.requests(request["plan_id"])
        assert after["status"] == "open"
