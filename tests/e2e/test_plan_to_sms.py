"""One treatment plan flowing through all three services to an SMS, over the real parts."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from devstack.stack import Stack
from shared.contracts.booking import AppointmentBooked
from shared.contracts.plans import CycleScheduled, PatientRegistered, SessionWindow
from shared.events import dlq_topic, new_event
from tests.e2e.conftest import eventually

PARIS = ZoneInfo("Europe/Paris")


async def new_patient(staff: httpx.AsyncClient, stack: Stack, phone: str) -> dict[str, Any]:
    response = await staff.post(
        f"{stack.urls['plans']}/v1/patients",
        json={
            "full_name": "Léa Martin",
            "phone": phone,
            "time_zone": "Europe/Paris",
            "language": "fr",
            "sms_consent": True,
            "needle_sensitive": True,
        },
    )
    assert response.status_code == 201, response.text
    patient: dict[str, Any] = response.json()
    return patient


async def open_requests(
    staff: httpx.AsyncClient, stack: Stack, patient_id: str, count: int
) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]] | None:
        response = await staff.get(
            f"{stack.urls['booking']}/v1/booking-requests", params={"patient_id": patient_id}
        )
        found: list[dict[str, Any]] = response.json()
        return found if len(found) == count else None

    return await eventually(probe, what=f"{count} booking requests")


async def sandbox_messages(stack: Stack, to: str) -> list[dict[str, Any]]:
    """What the Twilio sandbox accepted for ``to``, as Twilio's message resources."""
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{stack.urls['sandbox']}/_sandbox/messages", params={"to": to})
    response.raise_for_status()
    return [m["resource"] for m in response.json()["messages"]]


async def test_activated_plan_reaches_booking_and_booking_confirmation_reaches_the_phone(
    stack: Stack, clinic: dict[str, Any], staff: httpx.AsyncClient
) -> None:
    phone = "+33611223344"
    patient = await new_patient(staff, stack, phone)
    start = datetime.now(PARIS).date() + timedelta(days=1)
    response = await staff.post(
        f"{stack.urls['plans']}/v1/plans",
        json={
            "patient_id": patient["id"],
            "protocol_id": clinic["protocol_ids"]["cellulite"],
            "areas": ["thighs"],
            "start_date": start.isoformat(),
        },
    )
    assert response.status_code == 201, response.text
    plan = response.json()
    assert plan["status"] == "draft"

    response = await staff.post(f"{stack.urls['plans']}/v1/plans/{plan['id']}/activate")
    assert response.status_code == 200, response.text
    assert [s["session_number"] for s in response.json()["sessions"]] == list(range(1, 11))

    requests = await open_requests(staff, stack, patient["id"], count=10)
    first = requests[0]
    assert (first["session_number"], first["total_sessions"]) == (1, 10)
    assert first["earliest_date"] == start.isoformat()
    assert first["numbing_cream_advised"] is True

    starts_at = datetime.combine(start, time(10, 0), PARIS)
    response = await staff.post(
        f"{stack.urls['booking']}/v1/appointments",
        json={
            "booking_request_id": first["id"],
            "practitioner_id": clinic["practitioner_ids"][0],
            "room_id": clinic["room_ids"][0],
            "starts_at": starts_at.isoformat(),
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "booked"

    async def confirmation_sent() -> list[dict[str, Any]] | None:
        return await sandbox_messages(stack, phone) or None

    sent = await eventually(confirmation_sent, what="the confirmation SMS in the sandbox")
    assert len(sent) == 1
    assert "séance 1 sur 10" in sent[0]["body"]  # the patient reads French
    assert f"{starts_at:%H:%M}" in sent[0]["body"]
    assert "thigh" not in sent[0]["body"].lower()  # no body area in an SMS by default

    async def delivered() -> list[dict[str, Any]] | None:
        response = await staff.get(
            f"{stack.urls['notify']}/v1/messages", params={"patient_id": patient["id"]}
        )
        log = response.json()
        return log if log and log[0]["status"] == "delivered" else None

    log = await eventually(delivered, what="the sandbox's delivery callback")
    assert log[0]["twilio_sid"] == sent[0]["sid"]


async def test_the_same_event_delivered_twice_has_one_effect(
    stack: Stack, clinic: dict[str, Any], staff: httpx.AsyncClient
) -> None:
    phone = "+33622334455"
    patient = await new_patient(staff, stack, phone)
    cycle = CycleScheduled(
        plan_id=uuid.uuid4(),
        patient_id=uuid.UUID(patient["id"]),
        protocol_id=uuid.UUID(clinic["protocol_ids"]["medical"]),
        protocol_version=1,
        indication="medical",
        treatment="Medical mesotherapy",
        areas=["back"],
        session_minutes=20,
        numbing_cream_advised=False,
        preferred_practitioner_id=None,
        time_zone="Europe/Paris",
        sessions=[_window(1, 1, datetime.now(PARIS).date() + timedelta(days=3))],
    )
    event = new_event(cycle, source="/tests", key=patient["id"], now=datetime.now(UTC))
    producer = AIOKafkaProducer(bootstrap_servers=stack.env["KAFKA_BOOTSTRAP_SERVERS"])
    await producer.start()
    try:
        for _ in range(2):
            await producer.send_and_wait(
                event.topic, event.kafka_value(), key=event.key.encode(),
                headers=event.kafka_headers(),
            )  # fmt: skip
    finally:
        await producer.stop()
    [request] = await open_requests(staff, stack, patient["id"], count=1)

    response = await staff.post(
        f"{stack.urls['booking']}/v1/appointments",
        json={
            "booking_request_id": request["id"],
            "practitioner_id": clinic["practitioner_ids"][1],
            "room_id": clinic["room_ids"][1],
            "starts_at": datetime.combine(
                date.fromisoformat(request["target_date"]), time(15, 30), PARIS
            ).isoformat(),
        },
    )
    assert response.status_code == 201, response.text
    appointment_id = response.json()["id"]

    # Replay booking's AppointmentBooked event itself: notify must not text twice.
    booked = await _read_event(stack, "booking.events", "clinic.booking.appointment_booked.v1",
                               appointment_id)  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=stack.env["KAFKA_BOOTSTRAP_SERVERS"])
    await producer.start()
    try:
        await producer.send_and_wait("booking.events", booked.value, key=booked.key,
                                     headers=list(booked.headers))  # fmt: skip
    finally:
        await producer.stop()

    await eventually(lambda: sandbox_messages(stack, phone), what="the confirmation SMS")
    await _settle()
    assert len(await sandbox_messages(stack, phone)) == 1
    again = await staff.get(f"{stack.urls['booking']}/v1/booking-requests",
                            params={"patient_id": patient["id"]})  # fmt: skip
    assert len(again.json()) == 1


async def test_a_malformed_event_goes_to_the_dead_letter_topic_and_the_consumer_goes_on(
    stack: Stack, clinic: dict[str, Any], staff: httpx.AsyncClient
) -> None:
    servers = stack.env["KAFKA_BOOTSTRAP_SERVERS"]
    marker = uuid.uuid4().hex
    producer = AIOKafkaProducer(bootstrap_servers=servers)
    await producer.start()
    try:
        # Not a CloudEvent at all, then a CloudEvent whose payload does not fit its type.
        await producer.send_and_wait("plans.events", f"garbage {marker}".encode(), key=b"x")
        bad = new_event(
            PatientRegistered(
                patient_id=uuid.uuid4(), full_name="x", phone="+33600000000",
                time_zone="Europe/Paris", language="fr", sms_consent=True,
                needle_sensitive=False,
            ),
            source="/tests", key="x", now=datetime.now(UTC),
        )  # fmt: skip
        await producer.send_and_wait(
            "plans.events", json.dumps({"patient_id": marker}).encode(), key=b"x",
            headers=bad.kafka_headers(),
        )  # fmt: skip
    finally:
        await producer.stop()

    # The consumers keep going: a valid patient and plan after the bad records still flow.
    patient = await new_patient(staff, stack, "+33633445566")
    response = await staff.post(
        f"{stack.urls['plans']}/v1/plans",
        json={
            "patient_id": patient["id"],
            "protocol_id": clinic["protocol_ids"]["hair-regrowth"],
            "areas": ["scalp"],
            "start_date": (datetime.now(PARIS).date() + timedelta(days=2)).isoformat(),
        },
    )
    await staff.post(f"{stack.urls['plans']}/v1/plans/{response.json()['id']}/activate")
    await open_requests(staff, stack, patient["id"], count=8)

    dead = await _dead_letters(servers, dlq_topic("plans.events"), marker)
    reasons = {headers["dlq_consumer"]: headers["dlq_reason"] for headers in dead}
    # Both consumers of plans.events (booking and notify) dead-letter both records.
    assert len(dead) == 4
    assert set(reasons) == {"booking", "notify"}
    assert any("not a CloudEvent" in h["dlq_reason"] for h in dead)
    assert any("does not validate" in h["dlq_reason"] for h in dead)


async def test_an_appointment_that_arrives_before_its_patient_is_still_confirmed(
    stack: Stack, clinic: dict[str, Any]
) -> None:
    """Topics are not ordered with each other: notify waits for the contact details."""
    phone = "+33677889900"
    patient_id = uuid.uuid4()
    now = datetime.now(UTC)
    starts_at = now + timedelta(days=2)
    booked = AppointmentBooked(
        appointment_id=uuid.uuid4(), version=1, status="booked", patient_id=patient_id,
        plan_id=None, booking_request_id=None, session_number=2, total_sessions=6,
        treatment="Face and neck rejuvenation", numbing_cream_advised=True,
        practitioner_id=uuid.UUID(clinic["practitioner_ids"][0]),
        room_id=uuid.UUID(clinic["room_ids"][0]), location_id=uuid.UUID(clinic["location_id"]),
        location_time_zone="Europe/Paris", starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=45),
    )  # fmt: skip
    registered = PatientRegistered(
        patient_id=patient_id, full_name="Inès Roux", phone=phone, time_zone="Europe/Paris",
        language="fr", sms_consent=True, needle_sensitive=False,
    )  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=stack.env["KAFKA_BOOTSTRAP_SERVERS"])
    await producer.start()
    try:
        for payload in (booked, registered):
            event = new_event(payload, source="/tests", key=str(patient_id), now=now)
            await producer.send_and_wait(
                event.topic, event.kafka_value(), key=event.key.encode(),
                headers=event.kafka_headers(),
            )  # fmt: skip
            await asyncio.sleep(1.0)  # the appointment is in notify before the patient
    finally:
        await producer.stop()

    sent = await eventually(lambda: sandbox_messages(stack, phone), what="the confirmation")
    assert "séance 2 sur 6" in sent[0]["body"]


def _window(k: int, n: int, day: date) -> SessionWindow:
    return SessionWindow(
        session_number=k, total_sessions=n, target_date=day,
        earliest_date=day - timedelta(days=1), latest_date=day + timedelta(days=1),
    )  # fmt: skip


async def _settle() -> None:
    """Give a wrongly-duplicated message time to show up before counting."""
    await asyncio.sleep(2.0)


async def _read_event(stack: Stack, topic: str, type_: str, subject: str) -> Any:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=stack.env["KAFKA_BOOTSTRAP_SERVERS"],
        auto_offset_reset="earliest", enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    try:

        async def probe() -> Any:
            batches = await consumer.getmany(timeout_ms=500)
            for record in (r for records in batches.values() for r in records):
                headers = {k: v.decode() for k, v in record.headers}
                if headers.get("ce_type") == type_ and headers.get("ce_subject") == subject:
                    return record
            return None

        return await eventually(probe, what=f"{type_} for {subject} on {topic}")
    finally:
        await consumer.stop()


async def _dead_letters(servers: str, topic: str, marker: str) -> list[dict[str, str]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=servers, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    found: list[dict[str, str]] = []
    try:

        async def probe() -> list[dict[str, str]] | None:
            batches = await consumer.getmany(timeout_ms=500)
            for record in (r for records in batches.values() for r in records):
                if marker.encode() in (record.value or b""):
                    found.append({k: v.decode() for k, v in record.headers})
            return found if len(found) >= 4 else None

        return await eventually(probe, what=f"4 dead letters on {topic}")
    finally:
        await consumer.stop()
