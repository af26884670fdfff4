"""The clinic simulator (``python -m sim``) over the real processes.

A short seed, from ``TEST_NOW``: a week of clinic life in both booking modes, with one
fault of each kind (kill -9, broker restart, PostgreSQL restart, paused consumer), and
not one invariant broken. Then, on the same system, violations planted straight into
its databases, its broker and the Twilio sandbox: the checker names each, with its ids.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer

from devstack.stack import Stack
from sim.faults import KINDS
from sim.invariants import Policy, Sent, Violation, check_sms, check_world
from sim.main import clinic_stack
from sim.observe import Observer
from sim.runner import Config, Simulation
from tests.clock import TEST_NOW
from twilio_sandbox.config import DEV_ACCOUNT_SID, DEV_AUTH_TOKEN

CONFIG = Config(
    seed=14,
    weeks=1.0,
    start=TEST_NOW,
    patients_per_week=8,
    modes=("invite", "auto"),
    mode_weeks=0.5,
    faults=True,
    fault_every_days=1.5,
    min_step=timedelta(minutes=30),
)


@dataclass
class Ran:
    stack: Stack
    simulation: Simulation
    violations: list[Violation]


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ran]:
    """The short seed, run once; its system stays up for the planted violations."""
    workdir: Path = tmp_path_factory.mktemp("sim")
    with clinic_stack(CONFIG, workdir) as (stack, infra):
        simulation = Simulation(CONFIG, stack, infra, Observer(stack.env, stack.urls["sandbox"]))
        lines: list[str] = []
        simulation.log = lines.append
        violations = asyncio.run(simulation.run())
        print("\n".join(lines))
        yield Ran(stack, simulation, violations)


def test_a_week_of_clinic_life_with_every_fault_breaks_no_invariant(ran: Ran) -> None:
    assert ran.violations == [], "\n".join(str(v) for v in ran.violations)
    counts, world = ran.simulation.counts, ran.simulation.world
    assert world is not None
    assert counts["patients"] >= 4, counts
    assert counts["plans"] >= 4, counts
    assert len(world.appointments) >= 8, counts
    assert counts["completed"] >= 1, counts
    assert len(ran.simulation.ledger.sent) >= 15, counts
    kinds = {s.kind for s in ran.simulation.ledger.sent}
    assert {"invitation", "confirmation"} <= kinds, kinds
    assert counts["mode_switches"] >= 1, counts
    assert ran.simulation.faults is not None
    assert sorted({f.kind for f in ran.simulation.faults.injected}) == sorted(KINDS)


async def test_the_checker_names_violations_planted_in_the_databases_broker_and_sandbox(
    ran: Ran,
) -> None:
    stack = ran.stack
    observer = Observer(stack.env, stack.urls["sandbox"])
    await observer.start()
    try:
        now = stack.clock.now()
        planted = await _plant_in_booking(observer)
        # A poison record on plans' topic: its consumers dead-letter it.
        await _publish(stack, observer.topic("plans.events"), b"not an event")
        # An SMS to a patient who withdrew consent, sent past notify (the sandbox's API).
        patient_id, phone = await _withdraw_consent(stack, observer)
        before = await observer.snapshot(now)
        sid = await _text_directly(stack, phone)
        assert await observer.quiesce(now, within=60) is None
        after = await observer.snapshot(now)

        [resource] = [m for m in await observer.new_sms() if m["sid"] == sid]
        sent = Sent(resource["sid"], resource["to"], resource["body"], now, None)
        sms = check_sms(sent, before, after, ran.simulation.ledger, Policy())
        state = check_world(
            await observer.world(now),
            buffer_before=CONFIG.buffer_before,
            buffer_after=CONFIG.buffer_after,
            sandbox_sids={s.sid for s in ran.simulation.ledger.sent} | {sid},
        )
    finally:
        await observer.close()

    def named(found: list[Violation], invariant: str, **ids: str) -> list[Violation]:
        return [
            v
            for v in found
            if v.invariant == invariant and all(v.ids.get(k) == i for k, i in ids.items())
        ]

    said = "\n".join(str(v) for v in [*state, *sms])
    pair = {planted["original"], planted["copy"]}  # at one time: either may come first
    assert [
        v
        for v in named(state, "schedule.overlap")
        if {v.ids["appointment"], v.ids["other"]} == pair
    ], said
    assert named(state, "schedule.gap", plan=planted["plan"], other=planted["too_close"]), said
    assert named(state, "schedule.hours", appointment=planted["too_close"]), said
    assert named(state, "sessions.match", request=planted["request"]), said
    assert named(state, "infra.dead_letters", topic="plans.events.dlq"), said
    assert named(sms, "sms.recorded", sms=sid, patient=patient_id), said
    assert named(sms, "sms.consent", sms=sid, patient=patient_id), said


async def _plant_in_booking(observer: Observer) -> dict[str, str]:
    """Straight into booking's tables: two appointments on one room and practitioner at
    once (the exclusion constraints dropped first), a session booked the night after the
    previous one, and a request cancelled behind plans' back."""
    engine = observer.engines["booking"]
    async with engine.begin() as db:
        pairs = (
            await db.execute(
                sa.text(
                    "SELECT a.id, r.plan_id, r.session_number, l.time_zone, nxt.id AS next_id"
                    " FROM appointment a JOIN booking_request r ON r.id = a.booking_request_id"
                    " JOIN location l ON l.id = a.location_id"
                    " JOIN booking_request nxt ON nxt.plan_id = r.plan_id"
                    "  AND nxt.session_number = r.session_number + 1 AND nxt.status = 'open'"
                    " WHERE a.status IN ('booked', 'confirmed') ORDER BY a.starts_at LIMIT 1"
                )
            )
        ).all()
        assert pairs, "the run left no booked session with an open next one"
        [(original, plan_id, _, zone, next_request)] = pairs
        await db.execute(
            sa.text(
                "ALTER TABLE appointment DROP CONSTRAINT no_double_booking_practitioner,"
                " DROP CONSTRAINT no_double_booking_room"
            )
        )
        columns = [
            c
            for c in (
                await db.execute(
                    sa.text(
                        "SELECT column_name FROM information_schema.columns"
                        " WHERE table_name = 'appointment' AND column_name <> 'id'"
                    )
                )
            ).scalars()
        ]
        listed = ", ".join(columns)
        copy = uuid.uuid4()
        copied = listed.replace("booking_request_id", "NULL")
        await db.execute(
            sa.text(
                f"INSERT INTO appointment (id, {listed}) SELECT :copy, {copied}"  # noqa: S608
                " FROM appointment WHERE id = :original"
            ),
            {"copy": copy, "original": original},
        )
        # The next session, at 03:00 the night after: too close, and outside any hours.
        starts = (
            await db.scalar(
                sa.text("SELECT starts_at FROM appointment WHERE id = :id"), {"id": original}
            )
        ).astimezone(ZoneInfo(zone))
        night = (starts + timedelta(days=1)).replace(hour=3, minute=0)
        close = uuid.uuid4()
        moved: dict[str, Any] = {
            "close": close,
            "original": original,
            "request": next_request,
            "starts": night,
            "ends": night + timedelta(minutes=20),
        }
        await db.execute(
            sa.text(
                f"INSERT INTO appointment (id, {listed}) SELECT :close, "  # noqa: S608
                + listed.replace("booking_request_id", ":request")
                .replace("blocked_from", ":starts")
                .replace("blocked_until", ":ends")
                .replace("starts_at", ":starts")
                .replace("ends_at", ":ends")
                + " FROM appointment WHERE id = :original"
            ),
            moved,
        )
        request = await db.scalar(
            sa.text(
                "SELECT r.id FROM booking_request r WHERE r.status = 'open'"
                " AND r.id <> :next ORDER BY r.id LIMIT 1"
            ),
            {"next": next_request},
        )
        assert request is not None, "the run left no open session"
        await db.execute(
            sa.text("UPDATE booking_request SET status = 'cancelled' WHERE id = :id"),
            {"id": request},
        )
    return {
        "original": str(original),
        "copy": str(copy),
        "plan": str(plan_id),
        "too_close": str(close),
        "request": str(request),
    }


async def _publish(stack: Stack, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=stack.env["KAFKA_BOOTSTRAP_SERVERS"])
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"poison")
    finally:
        await producer.stop()


async def _withdraw_consent(stack: Stack, observer: Observer) -> tuple[str, str]:
    """A patient of the run says no more SMS, at the desk (plans' API)."""
    [row] = await observer.rows(
        "plans",
        "SELECT id, phone FROM patient WHERE erased_at IS NULL AND sms_consent ORDER BY id LIMIT 1",
    )
    patient_id = str(row["id"])
    answer = await ran_staff_patch(stack, patient_id, {"sms_consent": False})
    assert answer.status_code == 200, answer.text
    assert await observer.quiesce(stack.clock.now(), within=60) is None
    return patient_id, str(row["phone"])


async def ran_staff_patch(stack: Stack, patient_id: str, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(
        headers={"Authorization": f"Bearer {stack.staff_token()}"}, timeout=10
    ) as client:
        return await client.patch(f"{stack.urls['plans']}/v1/patients/{patient_id}", json=body)


async def _text_directly(stack: Stack, phone: str) -> str:
    """An SMS sent through the sandbox's Twilio API, as a second sender would."""
    async with httpx.AsyncClient(auth=(DEV_ACCOUNT_SID, DEV_AUTH_TOKEN), timeout=10) as client:
        answer = await client.post(
            f"{stack.urls['sandbox']}/2010-04-01/Accounts/{DEV_ACCOUNT_SID}/Messages.json",
            data={"To": phone, "From": "+15005550006", "Body": "Mesocycle: a stray message"},
        )
    assert answer.status_code == 201, answer.text
    sid: str = answer.json()["sid"]
    return sid
