"""One treatment plan flowing through all three services to an SMS, over the real parts."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from devstack.stack import Stack
from shared.contracts.booking import AppointmentBooked
from shared.contracts.plans import CycleScheduled, PatientRegistered, SessionWindow
from shared.events import Event, Payload, dlq_topic, new_event
from tests.e2e.conftest import applied_by, eventually, paris_today, publish, publish_event
from tests.e2e.sms import LEFT_US, logged_messages, sandbox_messages, sent_sms
from tests.kafka_records import Record, find_records, headers_of

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


async def test_activated_plan_reaches_booking_and_booking_confirmation_reaches_the_phone(
    stack: Stack, clinic: dict[str, Any], staff: httpx.AsyncClient
) -> None:
    phone = "+33611223344"
    patient = await new_patient(staff, stack, phone)
    start = paris_today(stack) + timedelta(days=1)
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
    appointment = response.json()
    assert appointment["status"] == "booked"

    sms = await sent_sms(
        stack, staff, patient_id=patient["id"], kind="confirmation",
        appointment_id=appointment["id"], version=appointment["version"],
    )  # fmt: skip
    assert sms.sent["to"] == phone
    assert "séance 1 sur 10" in sms.body  # the patient reads French
    assert f"{starts_at:%H:%M}" in sms.body
    assert "thigh" not in sms.body.lower()  # no body area in an SMS by default

    async def delivered() -> dict[str, Any] | None:
        # (An earlier row may be there, replaced: planned before notify had the patient.)
        for log in await logged_messages(stack, staff, patient["id"], "confirmation"):
            if log["id"] == sms.log["id"] and log["status"] == "delivered":
                return log
        return None

    log = await eventually(delivered, what="the sandbox's delivery callback")
    assert log["twilio_sid"] == sms.sent["sid"]


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
        sessions=[_window(1, 1, paris_today(stack) + timedelta(days=3))],
    )
    event = new_event(cycle, source="/tests", key=patient["id"], now=stack.clock.now())
    for _ in range(2):
        await publish_event(stack, event)
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
    first = await sent_sms(stack, staff, patient_id=patient["id"], kind="confirmation",
                           appointment_id=appointment_id)  # fmt: skip
    booked = await _read_event(stack, "booking.events", "clinic.booking.appointment_booked.v1",
                               appointment_id)  # fmt: skip
    replayed = await publish(
        stack, "booking.events", booked.value, key=booked.key, headers=booked.headers
    )
    # notify commits its offset only after the effect's transaction: once past the
    # replayed record, whatever it would do is done.
    await applied_by(stack, "notify", replayed)
    confirmations = [
        m for m in await sandbox_messages(stack, phone)
        if m["body"] == first.body
    ]  # fmt: skip
    assert [m["sid"] for m in confirmations] == [first.sent["sid"]]
    logged = await logged_messages(stack, staff, patient["id"], "confirmation")
    assert [m["id"] for m in logged if m["status"] in LEFT_US] == [first.log["id"]]
    again = await staff.get(f"{stack.urls['booking']}/v1/booking-requests",
                            params={"patient_id": patient["id"]})  # fmt: skip
    assert len(again.json()) == 1


async def test_a_malformed_event_goes_to_the_dead_letter_topic_and_the_consumer_goes_on(
    stack: Stack, clinic: dict[str, Any], staff: httpx.AsyncClient
) -> None:
    marker = uuid.uuid4().hex
    # Not a CloudEvent at all, then a CloudEvent whose payload does not fit its type.
    await publish(stack, "plans.events", f"garbage {marker}".encode(), key=b"x")
    bad = new_event(
        PatientRegistered(
            patient_id=uuid.uuid4(), full_name="x", phone="+33600000000",
            time_zone="Europe/Paris", language="fr", sms_consent=True,
            needle_sensitive=False,
        ),
        source="/tests", key="x", now=stack.clock.now(),
    )  # fmt: skip
    await publish(
        stack, "plans.events", json.dumps({"patient_id": marker}).encode(), key=b"x",
        headers=bad.kafka_headers(),
    )  # fmt: skip

    # The consumers keep going: a valid patient and plan after the bad records still flow.
    patient = await new_patient(staff, stack, "+33633445566")
    response = await staff.post(
        f"{stack.urls['plans']}/v1/plans",
        json={
            "patient_id": patient["id"],
            "protocol_id": clinic["protocol_ids"]["hair-regrowth"],
            "areas": ["scalp"],
            "start_date": (paris_today(stack) + timedelta(days=2)).isoformat(),
        },
    )
    await staff.post(f"{stack.urls['plans']}/v1/plans/{response.json()['id']}/activate")
    await open_requests(staff, stack, patient["id"], count=8)

    dead = [
        headers_of(record)
        for record in await find_records(
            stack.env["KAFKA_BOOTSTRAP_SERVERS"], stack.topic(dlq_topic("plans.events")),
            lambda record: marker.encode() in (record.value or b""), count=4,
            what="4 dead letters",
        )
    ]  # fmt: skip
    reasons = {headers["dlq_consumer"]: headers["dlq_reason"] for headers in dead}
    # Both consumers of plans.events (booking and notify) dead-letter both records.
    assert len(dead) == 4
    assert set(reasons) == {"booking", "notify"}
    assert any("not a CloudEvent" in h["dlq_reason"] for h in dead)
    assert any("does not validate" in h["dlq_reason"] for h in dead)


async def test_an_appointment_that_arrives_before_its_patient_is_still_confirmed(
    stack: Stack, clinic: dict[str, Any], staff: httpx.AsyncClient
) -> None:
    """Topics are not ordered with each other: notify waits for the contact details."""
    phone = "+33677889900"
    patient_id = uuid.uuid4()
    now = stack.clock.now()
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

    def event(payload: Payload) -> Event[Any]:
        return new_event(payload, source="/tests", key=str(patient_id), now=now)

    await applied_by(stack, "notify", await publish_event(stack, event(booked)))
    # Planned, but not sent: notify has neither the number nor the language yet.
    [waiting] = await logged_messages(stack, staff, str(patient_id), "confirmation")
    assert (waiting["status"], waiting["twilio_sid"]) == ("pending", None)
    assert waiting["status_reason"] == "waiting for the patient's contact details"
    await applied_by(stack, "notify", await publish_event(stack, event(registered)))

    sms = await sent_sms(stack, staff, patient_id=str(patient_id), kind="confirmation",
                         appointment_id=str(booked.appointment_id))  # fmt: skip
    assert sms.sent["to"] == phone
    assert "séance 2 sur 6" in sms.body


def _window(k: int, n: int, day: date) -> SessionWindow:
    return SessionWindow(
        session_number=k, total_sessions=n, target_date=day,
        earliest_date=day - timedelta(days=1), latest_date=day + timedelta(days=1),
    )  # fmt: skip


async def _read_event(stack: Stack, topic: str, type_: str, subject: str) -> Record:
    def meant(record: Record) -> bool:
        headers = headers_of(record)
        return headers.get("ce_type") == type_ and headers.get("ce_subject") == subject

    [record] = await find_records(
        stack.env["KAFKA_BOOTSTRAP_SERVERS"], stack.topic(topic), meant, what=f"{type_} {subject}"
    )
    return record
