"""PostgreSQL stops and starts again under the running system.

While it is down every route answers 503 ``application/problem+json`` with
``Retry-After``, saying nothing was saved, and every /readyz (the APIs' and the
workers' health ports) says the database is unavailable. Once it is back, every process
resumes by itself (none restarted) and nothing is lost.
"""

from __future__ import annotations

import asyncio

import httpx

from tests.e2e.flows import assert_flows_hold, patient_flow
from tests.faults.conftest import Stopwatch, System, readiness, time_passing

PLANS = 4


async def test_a_database_restart_is_a_503_meanwhile_and_every_process_resumes(
    system: System, staff: httpx.AsyncClient
) -> None:
    stack, clinic = system.stack, system.clinic
    flows = [await patient_flow(stack, staff, clinic, n) for n in range(3000, 3000 + PLANS)]
    processes = {name: process.pid for name, process in stack.processes.items()}

    with system.database_stopped():
        patient = {
            "full_name": "Ana Lopez", "phone": "+34612345678", "time_zone": "Europe/Madrid",
            "language": "es", "sms_consent": True,
        }  # fmt: skip
        down = await asyncio.gather(
            staff.post(f"{stack.urls['plans']}/v1/patients", json=patient),
            staff.get(f"{stack.urls['booking']}/v1/booking-requests"),
            staff.get(f"{stack.urls['notify']}/v1/messages"),
        )
        for answer in down:
            assert answer.status_code == 503, answer.text
            assert answer.headers["content-type"] == "application/problem+json"
            assert int(answer.headers["retry-after"]) > 0
            assert "database" in answer.json()["detail"]
        for process in ("plans", "booking.relay", "notify.dispatch"):
            await readiness(stack.urls[process], False, failing="database")
    back = Stopwatch("PostgreSQL stopped and started")
    for process in ("plans", "booking", "notify"):
        await readiness(stack.urls[process], True)
    back.say("every API ready again")
    flows += [await patient_flow(stack, staff, clinic, n) for n in range(3010, 3010 + PLANS)]
    back.say("four new flows booked")

    # A send whose outcome could not be recorded while the database was down stays
    # claimed until its lease (clinic time) runs out: the pinned clock is let run.
    async with time_passing(stack):
        await assert_flows_hold(stack, staff, flows)
    # Every process lived through it: none exited, none was restarted.
    assert {name: p.pid for name, p in stack.processes.items() if p.poll() is None} == processes
