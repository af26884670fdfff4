"""A patient books their own course over the real processes: the invitation link booking
issues when plans schedules the cycle, slots, hold, confirm, move, cancel (the session
reopens, with a fresh link), and a cancelled plan cancelling the appointments ahead."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from aiokafka import AIOKafkaConsumer

from devstack.stack import Stack
from shared.events import TOPICS
from tests.e2e.conftest import eventually, paris_today
from tests.e2e.test_plan_to_sms import new_patient, open_requests
from tests.utils.booking import token_of

PARIS = ZoneInfo("Europe/Paris")
INVITATION = "clinic.booking.booking_invitation_issued.v1"


@asynccontextmanager
async def booking_events(stack: Stack) -> AsyncIterator[list[tuple[str, dict[str, Any]]]]:
    """Every event on booking.events from the start, (type, payload), filled as they come."""
    consumer = AIOKafkaConsumer(
        stack.topic(TOPICS["booking"]), bootstrap_servers=stack.env["KAFKA_BOOTSTRAP_SERVERS"],
        auto_offset_reset="earliest", enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    seen: list[tuple[str, dict[str, Any]]] = []

    async def collect() -> None:
        async for record in consumer:
            headers = {k: v.decode() for k, v in record.headers}
            seen.append((headers.get("ce_type", ""), json.loads(record.value or b"{}")))

    task = asyncio.create_task(collect())
    try:
        yield seen
    finally:
        task.cancel()
        await consumer.stop()


def of(seen: list[tuple[str, dict[str, Any]]], type_: str, **match: Any) -> Callable[[], Any]:
    """A probe: the events of ``type_`` whose payload has these values, or None."""

    async def probe() -> list[dict[str, Any]] | None:
        found = [
            data
            for t, data in seen
            if t == type_ and all(data.get(k) == v for k, v in match.items())
        ]
        return found or None

    return probe


async def test_a_patient_books_moves_and_cancels_through_the_link_and_a_cancelled_plan_cancels(
    stack: Stack, clinic: dict[str, Any], staff: httpx.AsyncClient
) -> None:
    booking = f"{stack.urls['booking']}/v1"
    plans = f"{stack.urls['plans']}/v1/plans"
    async with booking_events(stack) as seen:
        patient = await new_patient(staff, stack, "+33677001122")
        start = paris_today(stack) + timedelta(days=3)
        response = await staff.post(
            plans,
            json={"patient_id": patient["id"], "protocol_id": clinic["protocol_ids"]["cellulite"],
                  "areas": ["thighs"], "start_date": start.isoformat()},
        )  # fmt: skip
        plan_id = response.json()["id"]
        assert (await staff.post(f"{plans}/{plan_id}/activate")).status_code == 200
        requests = await open_requests(staff, stack, patient["id"], count=10)

        # The cycle's first session is offered: a link the patient's SMS carries.
        [invitation] = await eventually(
            of(seen, INVITATION, patient_id=patient["id"]), what="the invitation link"
        )
        assert invitation["session_number"] == 1
        link = {"X-Patient-Token": token_of(invitation["link_url"])}
        async with httpx.AsyncClient(base_url=f"{booking}/self-booking", headers=link) as me:
            mine = (await me.get("/requests")).json()
            assert [r["session_number"] for r in mine] == list(range(1, 11))
            first = mine[0]
            slots = (await me.get(f"/requests/{first['id']}/slots")).json()
            assert slots, "no free slot in session 1's window"
            assert all(first["earliest_date"] <= s["local_starts_at"][:10] for s in slots)
            slot, later = slots[0], slots[-1]
            held = await me.post(
                "/holds",
                json={"booking_request_id": first["id"], "practitioner_id": slot["practitioner_id"],
                      "room_id": slot["room_id"], "starts_at": slot["starts_at"]},
            )  # fmt: skip
            assert held.status_code == 201, held.text
            assert held.json()["status"] == "held"
            appointment = f"/appointments/{held.json()['id']}"
            confirmed = await me.post(f"{appointment}/confirm")
            assert confirmed.json()["status"] == "booked", confirmed.text

            async def session_one(status: str) -> dict[str, Any] | None:
                plan: dict[str, Any] = (await staff.get(f"{plans}/{plan_id}")).json()
                return plan if plan["sessions"][0]["status"] == status else None

            await eventually(lambda: session_one("booked"), what="session 1 booked in plans")

            moved = await me.post(
                f"{appointment}/reschedule",
                json={"starts_at": later["starts_at"], "practitioner_id": later["practitioner_id"],
                      "room_id": later["room_id"]},
            )  # fmt: skip
            assert moved.status_code == 200, moved.text
            assert (moved.json()["version"], moved.json()["starts_at"]) == (3, later["starts_at"])
            await eventually(
                of(seen, "clinic.booking.appointment_rescheduled.v1", patient_id=patient["id"]),
                what="the move on booking.events",
            )

            cancelled = await me.post(f"{appointment}/cancel")
            assert cancelled.json()["status"] == "cancelled", cancelled.text
            # Plans reopens the session; booking opens it in its window and sends a new link.
            await eventually(lambda: session_one("open"), what="session 1 reopened in plans")
            again = await eventually(
                lambda: _at_least(of(seen, INVITATION, booking_request_id=first["id"]), 2),
                what="a fresh link for the reopened session",
            )
            assert again[-1]["appointment_id"] is None

        # Staff book session 2; then the plan is cancelled: booking cancels what lies ahead.
        second = next(r for r in requests if r["session_number"] == 2)
        slots = (await staff.get(f"{booking}/booking-requests/{second['id']}/slots")).json()
        slot = {k: slots[0][k] for k in ("practitioner_id", "room_id", "starts_at")}
        response = await staff.post(
            f"{booking}/appointments", json={"booking_request_id": second["id"], **slot}
        )
        assert response.status_code == 201, response.text
        ahead = response.json()["id"]
        response = await staff.post(f"{plans}/{plan_id}/cancel", json={"reason": "moved abroad"})
        assert response.status_code == 200, response.text

        async def cancelled_by_plan() -> dict[str, Any] | None:
            found: dict[str, Any] = (await staff.get(f"{booking}/appointments/{ahead}")).json()
            return found if found["status"] == "cancelled" else None

        gone = await eventually(cancelled_by_plan, what="session 2 cancelled by the plan")
        assert gone["reason"] == "moved abroad"
        [event] = await eventually(
            of(seen, "clinic.booking.appointment_cancelled.v1", appointment_id=ahead),
            what="the cancellation on booking.events",
        )
        assert event["changed_by"] == "plan"
        statuses = {
            r["status"]
            for r in (
                await staff.get(f"{booking}/booking-requests", params={"plan_id": plan_id})
            ).json()
        }
        assert statuses == {"cancelled"}


async def _at_least(probe: Callable[[], Any], count: int) -> list[dict[str, Any]] | None:
    found: list[dict[str, Any]] | None = await probe()
    return found if found and len(found) >= count else None
