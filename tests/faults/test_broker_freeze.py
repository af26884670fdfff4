"""The broker freezes for 45 s (a stopped process: connections open, nothing answers).

Writes never wait on it: plans answer activations at once while it is frozen (the relay
that cannot produce holds no lock a writer needs, and its produce times out). Once it
thaws, everything written meanwhile is published and consumed, once.
"""

from __future__ import annotations

import asyncio

import httpx

from tests.e2e.flows import activate_plan, assert_flows_hold, book_first_session, patient_flow
from tests.faults.conftest import Stopwatch, System, readiness

FREEZE_SECONDS = 45
PLANS = 4


async def test_a_frozen_broker_delays_events_and_never_a_write(
    system: System, staff: httpx.AsyncClient
) -> None:
    stack, clinic = system.stack, system.clinic
    flows = [await patient_flow(stack, staff, clinic, n) for n in range(2000, 2000 + PLANS)]

    with system.broker_frozen():
        frozen = Stopwatch("broker frozen")
        # The staff client gives up after 10 s: an activation waiting on the broker fails.
        during = [await activate_plan(stack, staff, clinic, n) for n in range(2010, 2010 + PLANS)]
        await readiness(stack.urls["booking"], False, failing="broker")
        await asyncio.sleep(FREEZE_SECONDS - frozen.seconds())  # the fault's length
    thawed = Stopwatch("broker frozen 45 s")
    await readiness(stack.urls["plans"], True, within=60)
    thawed.say("plans ready again")
    flows += [await book_first_session(stack, staff, f, within=60) for f in during]
    thawed.say("every plan activated during the freeze has its booking requests")
    flows += [await patient_flow(stack, staff, clinic, n) for n in range(2020, 2020 + PLANS)]

    await assert_flows_hold(stack, staff, flows, within=60)
