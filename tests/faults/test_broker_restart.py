"""The broker stops and comes back: nothing written meanwhile or after is lost.

The broker keeps its log across the restart, as production's does. Patients registered
and plans activated while the broker is down are published once it is back; the
consumers find it again by themselves, and every plan gets its booking requests.
"""

from __future__ import annotations

import asyncio

import httpx

from tests.e2e.flows import activate_plan, assert_flows_hold, book_first_session, patient_flow
from tests.faults.conftest import Stopwatch, System, readiness

PLANS = 4


async def test_a_broker_restart_loses_nothing_and_the_consumers_come_back_by_themselves(
    system: System, staff: httpx.AsyncClient
) -> None:
    stack, clinic = system.stack, system.clinic
    flows = [await patient_flow(stack, staff, clinic, n) for n in range(1000, 1000 + PLANS)]

    await asyncio.to_thread(system.stop_broker)
    await readiness(stack.urls["plans"], False, failing="broker")
    # Written while the broker is away: committed at once, waiting in the outboxes.
    during = [await activate_plan(stack, staff, clinic, n) for n in range(1010, 1010 + PLANS)]
    await asyncio.to_thread(system.start_broker)
    watch = Stopwatch("broker stopped and restarted")
    await readiness(stack.urls["plans"], True)
    # The consumers find the broker again by themselves, within 30 s.
    flows += [await book_first_session(stack, staff, f, within=30) for f in during]
    watch.say("every plan activated while it was down has its booking requests")
    flows += [await patient_flow(stack, staff, clinic, n) for n in range(1020, 1020 + PLANS)]

    await assert_flows_hold(stack, staff, flows)
