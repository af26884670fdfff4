"""Two replicas of every service on one broker, as production runs them.

Each replica is a whole process (API, outbox relay, consumers and, in notify, the
dispatcher). A few dozen patient flows run while the second replica of every service is
stopped and started again, so every consumer group rebalances twice, in the middle of the
work. Afterwards the same invariants hold as with one replica: every booking request
exists once, every booked session got exactly one confirmation SMS, no two appointments
overlap, the outboxes are drained, and both replicas did work.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from devstack.demo import seed
from devstack.stack import SERVICES, Stack
from tests.e2e.conftest import (
    PARIS,
    database,
    eventually,
    isolated_stack,
    outboxes_drained,
    paris_today,
    staff_client,
)
from tests.e2e.sms import LEFT_US, logged_messages, sandbox_messages, sent_sms

#: Flows per phase: both replicas up, the second one stopping, both up again.
PER_PHASE = 12
SESSIONS = 5  # the medical protocol's


@pytest.fixture(scope="module")
def replicas(
    workdir: Path, bootstrap_servers: str, database_server: str, run_id: str
) -> Iterator[Stack]:
    with isolated_stack(
        workdir, bootstrap_servers, database_server, f"replica_{run_id}", replicas=2,
        # 72 two-segment texts: a long code's 1 segment/s would take minutes.
        env={"NOTIFY_SMS_SEGMENTS_PER_SECOND": "50"},
    ) as stack:  # fmt: skip
        yield stack


@pytest.fixture(scope="module")
def clinic(replicas: Stack, workdir: Path) -> dict[str, Any]:
    return seed(replicas, workdir / "replica-seeded.json")


@pytest.fixture
async def staff(replicas: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with staff_client(replicas) as client:
        yield client


@dataclass(frozen=True)
class Flow:
    patient_id: str
    phone: str
    appointment: dict[str, Any]


async def patient_flow(
    stack: Stack, staff: httpx.AsyncClient, clinic: dict[str, Any], n: int, replica: int
) -> Flow:
    """A patient registered, a plan activated, session 1 booked: through ``replica``."""

    def url(service: str) -> str:
        return stack.urls[stack.replicas(service)[replica]]

    phone = f"+33620{n:06d}"
    patient = await staff.post(f"{url('plans')}/v1/patients", json={
        "full_name": f"Patient {n}", "phone": phone, "time_zone": "Europe/Paris",
        "language": "fr", "sms_consent": True, "needle_sensitive": False,
    })  # fmt: skip
    assert patient.status_code == 201, patient.text
    patient_id = patient.json()["id"]
    # A practitioner and a room of the flow's own: flows never compete for a time.
    location = clinic["location_id"]
    practitioner = await staff.post(f"{url('booking')}/v1/practitioners", json={
        "location_id": location, "full_name": f"Dr {n}", "indications": ["medical"],
    })  # fmt: skip
    room = await staff.post(
        f"{url('booking')}/v1/rooms", json={"location_id": location, "name": f"Room {n}"}
    )
    start = paris_today(stack) + timedelta(days=2)
    plan = await staff.post(f"{url('plans')}/v1/plans", json={
        "patient_id": patient_id, "protocol_id": clinic["protocol_ids"]["medical"],
        "areas": ["back"], "start_date": start.isoformat(),
    })  # fmt: skip
    activated = await staff.post(f"{url('plans')}/v1/plans/{plan.json()['id']}/activate")
    assert activated.status_code == 200, activated.text

    async def first_request() -> dict[str, Any] | None:
        found = await staff.get(
            f"{url('booking')}/v1/booking-requests", params={"patient_id": patient_id}
        )
        return next((r for r in found.json() if r["session_number"] == 1), None)

    request = await eventually(first_request, within=60, what=f"flow {n}'s booking requests")
    booked = await staff.post(f"{url('booking')}/v1/appointments", json={
        "booking_request_id": request["id"], "practitioner_id": practitioner.json()["id"],
        "room_id": room.json()["id"],
        "starts_at": datetime.combine(start, time(10), PARIS).isoformat(),
    })  # fmt: skip
    assert booked.status_code == 201, booked.text
    return Flow(patient_id, phone, booked.json())


async def test_two_replicas_of_every_service_lose_and_duplicate_nothing_across_a_rebalance(
    replicas: Stack, clinic: dict[str, Any], staff: httpx.AsyncClient
) -> None:
    stack = replicas
    seconds = [f"{service}-2" for service in SERVICES]

    def phase(first: int, replica_of: Any) -> list[asyncio.Task[Flow]]:
        return [
            asyncio.create_task(patient_flow(stack, staff, clinic, n, replica_of(n)))
            for n in range(first, first + PER_PHASE)
        ]

    flows = await asyncio.gather(*phase(0, lambda n: n % 2))
    before_the_stop = await _work(stack)
    # The second replicas stop while events of the next flows are on their way.
    stopping = phase(PER_PHASE, lambda n: 0)
    await asyncio.to_thread(stack.stop, *seconds)
    flows += await asyncio.gather(*stopping)
    await asyncio.to_thread(stack.start, *seconds)
    flows += await asyncio.gather(*phase(2 * PER_PHASE, lambda n: n % 2))

    for flow in flows:
        # Every booking request once, in booking as plans scheduled them.
        found = await staff.get(
            f"{stack.urls['booking']}/v1/booking-requests", params={"patient_id": flow.patient_id}
        )
        numbers = sorted(r["session_number"] for r in found.json())
        assert numbers == list(range(1, SESSIONS + 1)), (flow.patient_id, numbers)
        # One confirmation, sent once.
        sms = await sent_sms(stack, staff, patient_id=flow.patient_id, kind="confirmation",
                             appointment_id=flow.appointment["id"])  # fmt: skip
        texts = [m for m in await sandbox_messages(stack, flow.phone) if m["body"] == sms.body]
        assert len(texts) == 1, (flow.patient_id, texts)
        logged = await logged_messages(stack, staff, flow.patient_id, "confirmation")
        assert [m["id"] for m in logged if m["status"] in LEFT_US] == [sms.log["id"]], logged

    await outboxes_drained(stack)
    assert await _overlapping_appointments(stack) == []
    # Each replica's consumer and relay did their part: before the second ones stopped,
    # or since they started again (their counters start from zero then).
    after = await _work(stack)
    for process, done in after.items():
        for name in ("events_applied_total", "outbox_published_total"):
            assert done[name] + before_the_stop[process][name] > 0, (process, name, after)
    assert sum(after[p]["sms_sent_total"] for p in stack.replicas("notify")) > 0, after


async def _overlapping_appointments(stack: Stack) -> list[Any]:
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


def _metric(text: str, name: str) -> float:
    """The sum of every sample of ``name`` in a Prometheus text page."""
    pattern = re.compile(rf"^{name}(?:{{[^}}]*}})? (\S+)$", re.MULTILINE)
    return sum(float(value) for value in pattern.findall(text))


async def _work(stack: Stack) -> dict[str, dict[str, float]]:
    """What each replica has done so far, from its own /metrics."""
    work: dict[str, dict[str, float]] = {}
    async with httpx.AsyncClient(timeout=10) as client:
        for service in SERVICES:
            for process in stack.replicas(service):
                page = (await client.get(f"{stack.urls[process]}/metrics")).text
                work[process] = {
                    name: _metric(page, name)
                    for name in ("events_applied_total", "outbox_published_total",
                                 "sms_sent_total")
                }  # fmt: skip
    return work
