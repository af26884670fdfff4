"""A patient's flow through the three services, and what must hold after many of them.

A flow registers a patient, activates a plan of the medical protocol, waits for its
booking requests and books session 1 with a practitioner and a room of its own (flows
never compete for a time). Whatever happened meanwhile (a rebalance, a crash, a broker
or database outage), :func:`assert_flows_hold` checks the invariants in the databases
and in the Twilio sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from devstack.stack import Stack
from tests.e2e.conftest import PARIS, database, eventually, outboxes_drained, paris_today
from tests.e2e.sms import LEFT_US, logged_messages, sandbox_messages, sent_sms

SESSIONS = 5  # the medical protocol's


@dataclass(frozen=True)
class Flow:
    patient_id: str
    phone: str
    appointment: dict[str, Any]


@dataclass(frozen=True)
class Activated:
    """A flow halfway: its patient registered and its plan activated in plans."""

    n: int
    patient_id: str
    phone: str
    practitioner_id: str
    room_id: str
    start: date


async def patient_flow(
    stack: Stack,
    staff: httpx.AsyncClient,
    clinic: dict[str, Any],
    n: int,
    replica: int = 0,
    *,
    within: float = 60,
) -> Flow:
    """Patient ``n`` registered, a plan activated, session 1 booked: through ``replica``
    of each service; its booking requests are awaited ``within`` seconds."""
    activated = await activate_plan(stack, staff, clinic, n, replica)
    return await book_first_session(stack, staff, activated, replica, within=within)


async def activate_plan(
    stack: Stack, staff: httpx.AsyncClient, clinic: dict[str, Any], n: int, replica: int = 0
) -> Activated:
    """Patient ``n`` registered, a practitioner and a room of its own, its plan activated."""

    def url(service: str) -> str:
        return stack.urls[stack.replicas(service)[replica]]

    phone = f"+33620{n:06d}"
    patient = await staff.post(f"{url('plans')}/v1/patients", json={
        "full_name": f"Patient {n}", "phone": phone, "time_zone": "Europe/Paris",
        "language": "fr", "sms_consent": True, "needle_sensitive": False,
    })  # fmt: skip
    assert patient.status_code == 201, patient.text
    patient_id = patient.json()["id"]
    location = clinic["location_id"]
    practitioner = await staff.post(f"{url('booking')}/v1/practitioners", json={
        "location_id": location, "full_name": f"Dr {n}", "indications": ["medical"],
    })  # fmt: skip
    assert practitioner.status_code == 201, practitioner.text
    room = await staff.post(
        f"{url('booking')}/v1/rooms", json={"location_id": location, "name": f"Room {n}"}
    )
    assert room.status_code == 201, room.text
    start = paris_today(stack) + timedelta(days=2)
    plan = await staff.post(f"{url('plans')}/v1/plans", json={
        "patient_id": patient_id, "protocol_id": clinic["protocol_ids"]["medical"],
        "areas": ["back"], "start_date": start.isoformat(),
    })  # fmt: skip
    assert plan.status_code == 201, plan.text
    activated = await staff.post(f"{url('plans')}/v1/plans/{plan.json()['id']}/activate")
    assert activated.status_code == 200, activated.text
    return Activated(n, patient_id, phone, practitioner.json()["id"], room.json()["id"], start)


async def book_first_session(
    stack: Stack, staff: httpx.AsyncClient, flow: Activated, replica: int = 0, *, within: float = 60
) -> Flow:
    """Once booking has the flow's requests (awaited ``within`` seconds), book session 1."""
    booking = stack.urls[stack.replicas("booking")[replica]]

    async def first_request() -> dict[str, Any] | None:
        found = await staff.get(
            f"{booking}/v1/booking-requests", params={"patient_id": flow.patient_id}
        )
        return next((r for r in found.json() if r["session_number"] == 1), None)

    request = await eventually(first_request, within=within, what=f"flow {flow.n}'s requests")
    booked = await staff.post(f"{booking}/v1/appointments", json={
        "booking_request_id": request["id"], "practitioner_id": flow.practitioner_id,
        "room_id": flow.room_id,
        "starts_at": datetime.combine(flow.start, time(10), PARIS).isoformat(),
    })  # fmt: skip
    assert booked.status_code == 201, booked.text
    return Flow(flow.patient_id, flow.phone, booked.json())


async def assert_flows_hold(
    stack: Stack, staff: httpx.AsyncClient, flows: list[Flow], *, within: float = 30
) -> None:
    """Every booking request exists once, every booked session got exactly one
    confirmation SMS (in notify's log and in the sandbox), the outboxes are drained and
    no two appointments overlap."""
    for flow in flows:
        found = await staff.get(
            f"{stack.urls['booking']}/v1/booking-requests", params={"patient_id": flow.patient_id}
        )
        numbers = sorted(r["session_number"] for r in found.json())
        assert numbers == list(range(1, SESSIONS + 1)), (flow.patient_id, numbers)
        sms = await sent_sms(stack, staff, patient_id=flow.patient_id, kind="confirmation",
                             appointment_id=flow.appointment["id"], within=within)  # fmt: skip
        texts = [m for m in await sandbox_messages(stack, flow.phone) if m["body"] == sms.body]
        assert len(texts) == 1, (flow.patient_id, texts)
        logged = await logged_messages(stack, staff, flow.patient_id, "confirmation")
        assert [m["id"] for m in logged if m["status"] in LEFT_US] == [sms.log["id"]], logged
    await outboxes_drained(stack)
    assert await overlapping_appointments(stack) == []


async def overlapping_appointments(stack: Stack) -> list[Any]:
    """Pairs of live appointments that share a practitioner or a room at some instant."""
    engine = database(stack, "booking")
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(sa.text(
                "SELECT a.id, b.id FROM appointment a JOIN appointment b ON a.id < b.id"
                " AND (a.practitioner_id = b.practitioner_id OR a.room_id = b.room_id)"
                " AND tstzrange(a.blocked_from, a.blocked_until, '[)')"
                "  && tstzrange(b.blocked_from, b.blocked_until, '[)')"
                " WHERE a.status IN ('held', 'booked', 'confirmed', 'checked_in')"
                " AND b.status IN ('held', 'booked', 'confirmed', 'checked_in')"
            ))  # fmt: skip
            return list(rows)
    finally:
        await engine.dispose()


def own_location(stack: Stack, *, name: str, practitioner: str, room: str) -> dict[str, str]:
    """A location of a test's own with one practitioner (treating cellulite) and one room,
    so what the test counts or shows there is its alone: their ids."""
    headers = {"Authorization": f"Bearer {stack.staff_token()}"}
    booking = stack.urls["booking"]
    with httpx.Client(headers=headers, timeout=10) as client:

        def post(path: str, body: dict[str, Any]) -> str:
            response = client.post(f"{booking}{path}", json=body)
            response.raise_for_status()
            created: str = response.json()["id"]
            return created

        location = post("/v1/locations", {"name": name, "time_zone": "Europe/Paris"})
        doctor = post(
            "/v1/practitioners",
            {"location_id": location, "full_name": practitioner, "indications": ["cellulite"]},
        )
        room_id = post("/v1/rooms", {"location_id": location, "name": room})
    return {"id": location, "practitioner_id": doctor, "room_id": room_id}
