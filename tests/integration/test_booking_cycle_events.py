"""Plans' cycle-scheduled event through the real broker into booking, in both modes:
invite (a self-booking link for notify to text) and auto (a held slot the patient
confirms by replying "C"), then the patient books through the link."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer

from shared.contracts.notify import ConfirmationReceived
from shared.contracts.plans import CycleScheduled, PatientRegistered, SessionWindow
from shared.events import Payload, new_event
from shared.service import CONSUMER, RELAY
from tests.clock import TEST_NOW
from tests.polling import eventually
from tests.utils.booking import Booking, running_booking, token_of

T = TypeVar("T")


async def publish(servers: str, *payloads: Payload, key: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=servers)
    await producer.start()
    try:
        for payload in payloads:
            event = new_event(payload, source="/tests/plans", key=key, now=TEST_NOW)
            await producer.send_and_wait(
                event.topic, event.kafka_value(), key=key.encode(), headers=event.kafka_headers()
            )
    finally:
        await producer.stop()


async def mine(booking: Booking, type_: str, patient_id: uuid.UUID) -> list[dict[str, Any]] | None:
    """This test's patient's events of a type (the broker also holds earlier tests' events)."""
    found = [e for e in await booking.events(type_) if e["patient_id"] == str(patient_id)]
    return found or None


def a_cycle(booking: Booking, patient_id: uuid.UUID) -> tuple[PatientRegistered, CycleScheduled]:
    day = (booking.clock.now() + timedelta(days=3)).date()
    patient = PatientRegistered(
        patient_id=patient_id, full_name="Léa Martin", phone="+33611223344",
        time_zone="America/Montreal", language="fr", sms_consent=True, needle_sensitive=True,
    )  # fmt: skip
    cycle = CycleScheduled(
        plan_id=uuid.uuid4(), patient_id=patient_id, protocol_id=uuid.uuid4(),
        protocol_version=1, indication="cellulite", treatment="Cellulite mesotherapy",
        areas=["thighs"], session_minutes=30, numbing_cream_advised=True,
        preferred_practitioner_id=None, time_zone="Europe/Paris",
        sessions=[
            SessionWindow(session_number=k, total_sessions=2,
                          target_date=day + timedelta(days=14 * (k - 1)),
                          earliest_date=day + timedelta(days=14 * (k - 1) - 1),
                          latest_date=day + timedelta(days=14 * (k - 1) + 1))
            for k in (1, 2)
        ],
    )  # fmt: skip
    return patient, cycle


async def test_invite_mode_texts_a_link_that_lets_the_patient_hold_and_book_a_slot(
    fresh_database: str, bootstrap_servers: str
) -> None:
    async with running_booking(
        fresh_database, bootstrap_servers, workers=(CONSUMER,), booking_mode="invite"
    ) as booking:
        await booking.seed_clinic()
        patient_id = uuid.uuid4()
        patient, cycle = a_cycle(booking, patient_id)
        await publish(bootstrap_servers, patient, cycle, key=str(patient_id))

        async def invited() -> list[dict[str, Any]] | None:
            return await mine(booking, "booking_invitation_issued.v1", patient_id)

        [invitation] = await eventually(invited, what="the booking invitation")
        assert invitation["session_number"] == 1
        patient_link = {"X-Patient-Token": token_of(invitation["link_url"])}
        requests = await booking.client.get("/v1/self-booking/requests", headers=patient_link)
        assert [r["session_number"] for r in requests.json()] == [1, 2]
        first = requests.json()[0]
        slots = await booking.client.get(
            f"/v1/self-booking/requests/{first['id']}/slots", headers=patient_link
        )
        assert slots.status_code == 200, slots.text
        slot = slots.json()[0]
        # Shown where the patient lives (Montreal) as well as at the clinic (Paris).
        assert slot["patient_starts_at"].endswith("-05:00")
        assert slot["local_starts_at"].endswith("+01:00")
        held = await booking.post(
            "/v1/self-booking/holds",
            {"booking_request_id": first["id"], "practitioner_id": slot["practitioner_id"],
             "room_id": slot["room_id"], "starts_at": slot["starts_at"]},
            headers=patient_link,
        )  # fmt: skip
        assert held.status_code == 201, held.text
        assert held.json()["status"] == "held"
        confirmed = await booking.post(
            f"/v1/self-booking/appointments/{held.json()['id']}/confirm", headers=patient_link
        )
        assert confirmed.json()["status"] == "booked"
        # The link opens this patient's own things only.
        stranger = await booking.cycle()
        [theirs] = await booking.requests(stranger)
        response = await booking.client.get(
            f"/v1/self-booking/requests/{theirs['id']}/slots", headers=patient_link
        )
        assert response.status_code == 404
        response = await booking.client.get(
            "/v1/self-booking/requests", headers={"X-Patient-Token": "x" * 40}
        )
        assert response.status_code == 401


async def test_auto_mode_holds_a_slot_and_the_patients_reply_books_it(
    fresh_database: str, bootstrap_servers: str
) -> None:
    async with running_booking(
        fresh_database, bootstrap_servers, workers=(CONSUMER, RELAY), booking_mode="auto"
    ) as booking:
        await booking.seed_clinic()
        patient_id = uuid.uuid4()
        patient, cycle = a_cycle(booking, patient_id)
        await publish(bootstrap_servers, patient, cycle, key=str(patient_id))

        async def held() -> list[dict[str, Any]] | None:
            return await mine(booking, "appointment_held.v1", patient_id)

        [hold] = await eventually(held, what="the held slot")
        assert hold["session_number"] == 1
        assert hold["hold_expires_at"]
        [invitation] = await mine(booking, "booking_invitation_issued.v1", patient_id) or []
        assert invitation["appointment_id"] == hold["appointment_id"]
        reply = ConfirmationReceived(
            patient_id=patient_id, appointment_id=uuid.UUID(hold["appointment_id"]),
            appointment_version=hold["version"], received_at=booking.clock.now(),
        )  # fmt: skip
        await publish(bootstrap_servers, reply, key=str(patient_id))

        async def booked() -> list[dict[str, Any]] | None:
            return await mine(booking, "appointment_booked.v1", patient_id)

        [event] = await eventually(booked, what="the booked appointment")
        assert (event["appointment_id"], event["version"]) == (hold["appointment_id"], 2)
