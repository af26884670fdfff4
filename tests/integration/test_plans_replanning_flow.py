"""The plan follows reality: booking's appointment events, sent through the real broker,
re-plan the cycle in the plans service, which announces every window it moves."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shared.contracts.booking import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentCompleted,
    AppointmentNoShow,
)
from tests.polling import eventually
from tests.utils.plans import (
    PlansApp,
    active_plan,
    appointment,
    new_patient,
    running_plans,
)

PARIS = ZoneInfo("Europe/Paris")
START = date(2026, 3, 20)  # a Friday; Paris changes to summer time on Sunday 2026-03-29


@pytest.fixture
async def plans_app(fresh_database: str, bootstrap_servers: str) -> AsyncIterator[PlansApp]:
    async with running_plans(fresh_database, bootstrap_servers) as app:
        yield app


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=PARIS)


async def session_is(
    app: PlansApp, plan: dict[str, Any], number: int, status: str, **fields: Any
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        response = await app.client.get(f"/v1/plans/{plan['id']}")
        current: dict[str, Any] = response.json()
        planned = current["sessions"][number - 1]
        if planned["status"] == status and all(planned[k] == v for k, v in fields.items()):
            return current
        return None

    return await eventually(probe, what=f"session {number} {status} {fields or ''}")


async def session_one_booked(app: PlansApp) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """A medical plan from START with session 1 booked at 09:00 that day: the plan, the
    events' key (its patient) and the appointment's snapshot."""
    patient = await new_patient(app)
    plan = await active_plan(app, patient, key="medical", start=START)
    snapshot = appointment(plan, 1, at(START, 9))
    await app.publish(AppointmentBooked.model_validate(snapshot), key=patient["id"])
    await session_is(app, plan, 1, "booked")
    return plan, patient["id"], snapshot


def targets(plan: dict[str, Any]) -> list[str]:
    return [s["target_date"] for s in plan["sessions"]]


async def test_a_session_done_late_re_anchors_the_later_windows_even_across_dst(
    plans_app: PlansApp,
) -> None:
    patient = await new_patient(plans_app)
    plan = await active_plan(plans_app, patient, key="medical", start=START)  # 5 x 7 days, +-2
    key = patient["id"]
    assert targets(plan) == ["2026-03-20", "2026-03-27", "2026-04-03", "2026-04-10", "2026-04-17"]

    first = uuid.uuid4()
    await plans_app.publish(
        AppointmentBooked.model_validate(appointment(plan, 1, at(START, 10), appointment_id=first)),
        key=key,
    )
    await session_is(plans_app, plan, 1, "booked", appointment_id=str(first))
    await plans_app.publish(
        AppointmentCompleted.model_validate(
            appointment(plan, 1, at(START, 10), appointment_id=first, version=3, status="completed")
        ),
        key=key,
    )
    done = await session_is(plans_app, plan, 1, "completed", completed_on="2026-03-20")
    assert targets(done) == targets(plan)  # done on its target date: nothing moves
    assert await plans_app.events("clinic.plans.windows_changed.v1", key=key) == []

    # Session 2 done at 00:30 on the night of the DST change: still Sunday 29th in Paris
    # (Saturday 23:30 in UTC), two days late.
    late = at(date(2026, 3, 29), 0, 30)
    await plans_app.publish(
        AppointmentCompleted.model_validate(
            appointment(plan, 2, late, status="completed", version=4)
        ),
        key=key,
    )
    moved = await session_is(plans_app, plan, 2, "completed", completed_on="2026-03-29")
    assert targets(moved)[2:] == ["2026-04-05", "2026-04-12", "2026-04-19"]
    [changed] = await plans_app.events("clinic.plans.windows_changed.v1", key=key)
    assert changed["reason"] == "reanchored"
    assert changed["min_gap_days"] == 5  # the protocol's, for booking's spacing rule
    assert [(s["session_number"], s["earliest_date"], s["latest_date"])
            for s in changed["sessions"]] == [
        (3, "2026-04-03", "2026-04-07"), (4, "2026-04-10", "2026-04-14"),
        (5, "2026-04-17", "2026-04-21"),
    ]  # fmt: skip

    progress = (await plans_app.client.get(f"/v1/plans/{plan['id']}/progress")).json()
    assert (progress["completed"], progress["open"], progress["total"]) == (2, 3, 5)
    assert progress["next_window"]["session_number"] == 3


async def test_a_no_show_reopens_the_session_once_however_often_the_event_is_delivered(
    plans_app: PlansApp,
) -> None:
    plan, key, snapshot = await session_one_booked(plans_app)

    no_show = AppointmentNoShow.model_validate({**snapshot, "version": 2, "status": "no_show"})
    event_id = await _publish_twice(plans_app, no_show, key=key)
    reopened = await session_is(plans_app, plan, 1, "open", missed_count=1)
    # Missed on its target, the plan's first day (the window opens no earlier): it reopens
    # from the next day, and the sessions after it move one day too.
    first_window = reopened["sessions"][0]
    assert (first_window["earliest_date"], first_window["target_date"]) == ("2026-03-21",) * 2
    assert reopened["sessions"][1]["target_date"] == "2026-03-28"
    assert event_id
    [changed] = await plans_app.events("clinic.plans.windows_changed.v1", key=key)
    assert changed["reason"] == "reopened"
    assert [s["session_number"] for s in changed["sessions"]] == [1, 2, 3, 4, 5]

    # Booked again, then cancelled by the patient: reopened again, not missed.
    again = uuid.uuid4()
    rebooked = appointment(plan, 1, at(date(2026, 3, 21), 11), appointment_id=again)
    await plans_app.publish(AppointmentBooked.model_validate(rebooked), key=key)
    await session_is(plans_app, plan, 1, "booked", appointment_id=str(again))
    # A late copy of the first appointment's cancellation changes nothing now.
    await plans_app.publish(
        AppointmentCancelled.model_validate({**snapshot, "version": 1, "status": "cancelled"}),
        key=key,
    )
    cancelled = {**rebooked, "version": 2, "status": "cancelled", "changed_by": "patient"}
    await plans_app.publish(AppointmentCancelled.model_validate(cancelled), key=key)
    final = await session_is(plans_app, plan, 1, "open", appointment_id=str(again))
    assert final["sessions"][0]["missed_count"] == 1
    assert len(await plans_app.events("clinic.plans.windows_changed.v1", key=key)) == 2
    progress = (await plans_app.client.get(f"/v1/plans/{plan['id']}/progress")).json()
    assert (progress["missed"], progress["open"]) == (1, 5)


async def test_a_cancellation_during_a_pause_withdraws_the_session_and_tells_booking(
    plans_app: PlansApp,
) -> None:
    plan, key, snapshot = await session_one_booked(plans_app)
    assert (await plans_app.client.post(f"/v1/plans/{plan['id']}/pause")).status_code == 200

    cancelled = {**snapshot, "version": 2, "status": "cancelled", "changed_by": "staff"}
    await plans_app.publish(AppointmentCancelled.model_validate(cancelled), key=key)
    await session_is(plans_app, plan, 1, "withdrawn")
    # Booking reopened the request when the appointment went: this withdraws it there too.
    withdrawn = await plans_app.events("clinic.plans.windows_withdrawn.v1", key=key)
    assert [w["session_numbers"] for w in withdrawn] == [[2, 3, 4, 5], [1]]
    assert await plans_app.events("clinic.plans.windows_changed.v1", key=key) == []


async def test_the_last_session_completed_completes_the_plan(plans_app: PlansApp) -> None:
    patient = await new_patient(plans_app)
    plan = await active_plan(plans_app, patient, key="medical", start=START)
    key = patient["id"]
    day = START
    for number in range(1, 6):
        snapshot = appointment(plan, number, at(day, 10), status="completed", version=5)
        await plans_app.publish(AppointmentCompleted.model_validate(snapshot), key=key)
        day += timedelta(days=7)
    await session_is(plans_app, plan, 5, "completed")
    finished = (await plans_app.client.get(f"/v1/plans/{plan['id']}")).json()
    assert finished["status"] == "completed"
    assert finished["ended_at"] is not None
    [completed] = await plans_app.events("clinic.plans.plan_completed.v1", key=key)
    assert completed == {
        "type": "clinic.plans.plan_completed.v1",
        "plan_id": plan["id"],
        "patient_id": key,
    }


async def test_an_appointment_of_an_unknown_plan_is_skipped_and_the_consumer_goes_on(
    plans_app: PlansApp,
) -> None:
    patient = await new_patient(plans_app)
    plan = await active_plan(plans_app, patient, key="medical", start=START)
    stranger = {**appointment(plan, 1, at(START, 10)), "plan_id": uuid.uuid4()}
    await plans_app.publish(AppointmentBooked.model_validate(stranger), key=patient["id"])
    await plans_app.publish(
        AppointmentBooked.model_validate(appointment(plan, 2, at(START, 10))), key=patient["id"]
    )
    after = await session_is(plans_app, plan, 2, "booked")
    assert after["sessions"][0]["status"] == "open"


async def test_the_worklist_lists_open_sessions_whose_window_closes_soon_booked_ones_not(
    plans_app: PlansApp,
) -> None:
    soon, later = await new_patient(plans_app), await new_patient(plans_app, phone="+33611223399")
    tomorrow = plans_app.clock.now().date() + timedelta(days=1)
    first = await active_plan(plans_app, soon, key="medical", start=tomorrow)
    await active_plan(plans_app, later, key="medical", start=tomorrow + timedelta(days=30))
    response = await plans_app.client.get("/v1/worklist", params={"within_days": 7})
    assert response.headers["X-Total-Count"] == "1"
    [item] = response.json()
    assert (item["patient_id"], item["session_number"], item["days_left"]) == (soon["id"], 1, 3)

    await plans_app.publish(
        AppointmentBooked.model_validate(appointment(first, 1, at(tomorrow, 10))), key=soon["id"]
    )
    await session_is(plans_app, first, 1, "booked")
    assert (await plans_app.client.get("/v1/worklist", params={"within_days": 7})).json() == []

    plans_app.clock.advance(timedelta(days=60))  # every window of the first plan has closed
    response = await plans_app.client.get("/v1/worklist", params={"within_days": 0})
    overdue = response.json()
    assert [(i["session_number"], i["overdue"]) for i in overdue][:2] == [(2, True), (3, True)]
    response = await plans_app.client.get(
        "/v1/worklist", params={"within_days": 0, "include_overdue": False}
    )
    assert response.json() == []


async def _publish_twice(app: PlansApp, payload: Any, *, key: str) -> uuid.UUID:
    """The same event (same id) delivered twice, as after a consumer crash."""
    from aiokafka import AIOKafkaProducer

    from shared.events import new_event

    event = new_event(payload, source="/tests/booking", key=key, now=app.clock.now())
    producer = AIOKafkaProducer(bootstrap_servers=app.settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        for _ in range(2):
            await producer.send_and_wait(
                event.topic, event.kafka_value(), key=key.encode(), headers=event.kafka_headers()
            )
    finally:
        await producer.stop()
    return event.id
