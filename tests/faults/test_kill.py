"""kill -9 of each service, twice, while its part of the flows is in flight.

First each service's workers alone (its API keeps answering: the relay dies mid-publish,
the consumer mid-batch, the dispatcher mid-send), then every process of the service, API
included. Each comes back by a restart, as an orchestrator would, and nothing is lost
or done twice: the outbox, the consumers' processed-event ids and the dispatcher's
claims carry the work over. A send cut off by the kill is in doubt: once the dead
dispatcher's lease runs out, the reconciler finds it at Twilio, or sends it again.
"""

from __future__ import annotations

import asyncio
import signal

import httpx

from tests.e2e.conftest import eventually
from tests.e2e.flows import Activated, Flow, activate_plan, assert_flows_hold, book_first_session
from tests.e2e.sms import logged_messages
from tests.faults.conftest import Stopwatch, System, time_passing

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

    # A dispatcher killed holding a claim leaves its message "sending" until the lease
    # (60 s) runs out; then the reconciler finds it at Twilio or sends it again after
    # its grace (40 s). Both are clinic time: the pinned clock is let run.
    async with time_passing(stack):
        await assert_flows_hold(stack, staff, flows, within=60)


async def _kill_and_restart(system: System, processes: list[str]) -> None:
    system.kill(*processes)
    watch = Stopwatch(f"kill -9 of {', '.join(processes)}")
    await asyncio.to_thread(system.stack.start, *processes)
    watch.say("restarted and ready")


async def test_a_dispatcher_killed_while_twilio_holds_its_request_sends_it_once(
    system: System, staff: httpx.AsyncClient
) -> None:
    """The worst moment: the request is on its way to Twilio, no answer yet, and the
    dispatcher dies. Twilio (the sandbox, frozen meanwhile) then takes the request: its
    status callback settles the message (else, once the lease ran out, the reconciler
    would find it in Twilio's list), and it is never sent again."""
    stack = system.stack
    started = await activate_plan(stack, staff, system.clinic, 4300)
    sandbox = stack.processes["sandbox"]
    sandbox.send_signal(signal.SIGSTOP)
    try:
        flow = await book_first_session(stack, staff, started)

        async def sending() -> bool:
            found = await logged_messages(stack, staff, flow.patient_id, "confirmation")
            return any(m["status"] == "sending" for m in found)

        # Well within the send's own 10 s timeout, which would settle it as in doubt.
        await eventually(sending, within=8, what="the dispatcher to send the confirmation")
        system.kill("notify.dispatch")
    finally:
        sandbox.send_signal(signal.SIGCONT)
    await asyncio.to_thread(stack.start, "notify.dispatch")
    async with time_passing(stack):
        await assert_flows_hold(stack, staff, [flow], within=90)
