"""kill -9 of each service, twice, while its part of the flows is in flight.

First each service's workers alone (its API keeps answering: the relay dies mid-publish,
the consumer mid-batch, the dispatcher mid-send), then every process of the service, API
included. Each comes back by a restart, as an orchestrator would, and nothing is lost
or done twice: the outbox, the consumers' processed-event ids and the dispatcher's
claims carry the work over.
"""

from __future__ import annotations

import asyncio

import httpx

from tests.e2e.flows import Activated, Flow, activate_plan, assert_flows_hold, book_first_session
from tests.faults.conftest import Stopwatch, System

PER_ROUND = 6


async def test_kill_9_of_each_service_loses_and_duplicates_nothing(
    system: System, staff: httpx.AsyncClient
) -> None:
    stack, clinic = system.stack, system.clinic
    flows: list[Flow] = []
    for round_, whole in enumerate((False, True)):
        first = 4000 + 100 * round_

        def killed(service: str, whole: bool = whole) -> list[str]:
            return [p for p in stack.processes_of(service) if whole or "." in p]

        # plans publishes the cycles and booking opens their requests while both die.
        started: list[Activated] = await asyncio.gather(
            *(activate_plan(stack, staff, clinic, n) for n in range(first, first + PER_ROUND))
        )
        await _kill_and_restart(system, killed("plans") + killed("booking"))
        booked = await asyncio.gather(*(book_first_session(stack, staff, flow) for flow in started))
        # notify plans and sends the confirmations while it dies.
        await _kill_and_restart(system, killed("notify"))
        flows += booked

    await assert_flows_hold(stack, staff, flows, within=60)


async def _kill_and_restart(system: System, processes: list[str]) -> None:
    system.kill(*processes)
    watch = Stopwatch(f"kill -9 of {', '.join(processes)}")
    await asyncio.to_thread(system.stack.start, *processes)
    watch.say("restarted and ready")
