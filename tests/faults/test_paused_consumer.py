"""notify's consumer process freezes (SIGSTOP) in the production layout.

The API, another process, reads the group's lag from the broker's committed offsets:
its /readyz goes red naming the stalled group and partition within a minute, while the
frozen process answers no probe at all (its liveness probe would restart it). Once it
runs again the group catches up, /readyz is green, and every confirmation goes out once.
"""

from __future__ import annotations

import signal

import httpx
import pytest

from tests.e2e.flows import activate_plan, assert_flows_hold, book_first_session
from tests.faults.conftest import STALL_SECONDS, Stopwatch, System, readiness

PLANS = 4


async def test_a_paused_consumer_turns_readyz_red_naming_its_group_and_nothing_is_lost(
    system: System, staff: httpx.AsyncClient
) -> None:
    stack, clinic = system.stack, system.clinic
    started = [await activate_plan(stack, staff, clinic, n) for n in range(5000, 5000 + PLANS)]
    consumer = stack.processes["notify.consume"]
    consumer.send_signal(signal.SIGSTOP)
    try:
        paused = Stopwatch("notify's consumer paused")
        # booking's events for notify pile up on the broker, nobody takes them.
        flows = [await book_first_session(stack, staff, flow) for flow in started]
        said = await readiness(
            stack.urls["notify"], False, failing="consumers", reason="consumer group notify",
            within=60,
        )  # fmt: skip
        assert "booking.events" in said["checks"]["consumers"], said
        paused.say(f"notify's /readyz red (CONSUMER_STALL_SECONDS={STALL_SECONDS})")
        with pytest.raises(httpx.TimeoutException):
            async with httpx.AsyncClient(timeout=2) as client:
                await client.get(f"{stack.urls['notify.consume']}/healthz")
    finally:
        consumer.send_signal(signal.SIGCONT)
    resumed = Stopwatch("notify's consumer resumed")
    await readiness(stack.urls["notify"], True, within=60)
    resumed.say("notify's /readyz green")
    await assert_flows_hold(stack, staff, flows, within=60)
    resumed.say("every confirmation sent once")
